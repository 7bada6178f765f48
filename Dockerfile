# rewind's image: both binaries, static (no cgo: SQLite is pure Go), on
# distroless. The worker needs nothing else in it: metadata snapshots and
# migrations run as one-off containers on the deployment's host, and
# healthchecks call `rewind probe`. Bases are pinned by digest; the build
# arguments let a mirror, or the compose smoke test's local stand-ins,
# replace them.
ARG GO_IMAGE=golang:1.26.1@sha256:e2ddb153f786ee6210bf8c40f7f35490b3ff7d38be70d1a0d358ba64225f6428
ARG BASE_IMAGE=gcr.io/distroless/static-debian12@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/rewind ./starter && \
    CGO_ENABLED=0 go build -trimpath -o /out/rewind-worker ./worker

FROM ${BASE_IMAGE}
COPY --from=build /out/ /usr/local/bin/
ENV REWIND_DATA_DIR=/var/lib/rewind
ENTRYPOINT ["/usr/local/bin/rewind-worker"]
