# syntax=docker/dockerfile:1
# The bridge as a small, static, non-root image (.dockerignore keeps the build context
# to go.mod, go.sum and the Go source).
#   docker build -t audiospliter-bridge .
# With a broker of your own (secrets as files, out of `docker inspect`; ./secrets holds
# the files webhook and rabbitmq-url):
#   docker run -p 8080:8080 -v "$PWD/secrets:/run/secrets:ro" \
#     -e BRIDGE_WEBHOOK_SECRET_FILE=/run/secrets/webhook \
#     -e BRIDGE_SINK=rabbitmq -e BRIDGE_RABBITMQ_URL_FILE=/run/secrets/rabbitmq-url \
#     audiospliter-bridge
# The same environment, checked before starting (one line per check, nothing published):
#   docker run --rm -v "$PWD/secrets:/run/secrets:ro" \
#     -e BRIDGE_WEBHOOK_SECRET_FILE=/run/secrets/webhook \
#     -e BRIDGE_SINK=rabbitmq -e BRIDGE_RABBITMQ_URL_FILE=/run/secrets/rabbitmq-url \
#     audiospliter-bridge check
# With the embedded NATS JetStream server (the default sink): it listens on 0.0.0.0:4222
# so that consumers outside the container reach it, and the bridge therefore refuses
# to start (exit 2 naming the variable) unless consumers must present a token, here
# from ./embedded.env, a file holding the line BRIDGE_NATS_EMBEDDED_TOKEN=<a long random token>:
#   docker run -p 8080:8080 -p 127.0.0.1:4222:4222 -v bridge-data:/data \
#     -v "$PWD/secrets:/run/secrets:ro" -e BRIDGE_WEBHOOK_SECRET_FILE=/run/secrets/webhook \
#     --env-file ./embedded.env \
#     audiospliter-bridge

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY bridge ./bridge
COPY sinks ./sinks
COPY internal ./internal
COPY cmd ./cmd
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bridge ./cmd/bridge \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bridge /bridge
# The embedded NATS store, owned by the image's non-root user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Beyond loopback the embedded server needs BRIDGE_NATS_EMBEDDED_TOKEN (no default:
# a token baked into an image is no secret); it fsyncs before each ack by default.
ENV BRIDGE_LISTEN_ADDR=:8080 \
    BRIDGE_DATA_DIR=/data \
    BRIDGE_NATS_EMBEDDED_LISTEN=0.0.0.0:4222
EXPOSE 8080 4222
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/bridge", "healthcheck"]
ENTRYPOINT ["/bridge"]
