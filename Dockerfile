# Multi-stage build of the rewind binaries: static, no cgo (SQLite is pure Go).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/rewind ./starter && \
    CGO_ENABLED=0 go build -trimpath -o /out/rewind-worker ./worker

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/ /usr/local/bin/
ENV REWIND_DATA_DIR=/var/lib/rewind
ENTRYPOINT ["/usr/local/bin/rewind-worker"]
