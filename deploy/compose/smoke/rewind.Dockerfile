# The compose smoke test's rewind image: the production Dockerfile's
# golang and distroless bases cannot be pulled here, so the same two static
# binaries (built by the test with CGO_ENABLED=0, as the Dockerfile builds
# them) go onto an empty image with only what distroless/static gives a
# static binary: /tmp, root in /etc/passwd and CA certificates.
FROM scratch
COPY rootfs/ /
COPY rewind rewind-worker /usr/local/bin/
ENV REWIND_DATA_DIR=/var/lib/rewind
ENTRYPOINT ["/usr/local/bin/rewind-worker"]
