# syntax=docker/dockerfile:1
# The bridge as a small, static, non-root image.
#   docker build -t audiospliter-bridge .
#   docker run -e BRIDGE_WEBHOOK_SECRET=… -p 8080:8080 audiospliter-bridge

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY bridge ./bridge
COPY sinks ./sinks
COPY cmd ./cmd
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bridge ./cmd/bridge \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bridge /bridge
# The embedded NATS store, owned by the image's non-root user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV BRIDGE_LISTEN_ADDR=:8080 \
    BRIDGE_DATA_DIR=/data \
    BRIDGE_NATS_EMBEDDED_LISTEN=0.0.0.0:4222
EXPOSE 8080 4222
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/bridge", "healthcheck"]
ENTRYPOINT ["/bridge"]
