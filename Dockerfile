# copilot-proxy container image: a static binary on distroless, as a
# non-root user. Build: docker build -t copilot-proxy .
# syntax=docker/dockerfile:1

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
# CGO off: fully static (the SQLite driver is pure Go), so it runs on a
# base without libc.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/copilot-proxy/copilot-proxy/version.stamp=${VERSION}" \
      -o /out/copilot-proxy ./cmd/copilot-proxy \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), no
# shell. Pinned by version tag; pin by digest in your own registry.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/copilot-proxy /copilot-proxy
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Listen on every interface inside the container (keys are on by default);
# the SQLite store lives on the volume.
ENV COPILOT_PROXY_ADDR=0.0.0.0:8080 \
    COPILOT_PROXY_DB=/data/copilot-proxy.db \
    COPILOT_PROXY_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# No shell or curl in the image: the binary checks its own /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/copilot-proxy", "healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/copilot-proxy"]
CMD ["serve"]
