# copilot-proxy container image: the static binary on an empty (scratch)
# base, as a non-root user, with CA certificates and a volume for the SQLite
# key store. Build (see README "Install"):
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t copilot-proxy .
# `make image-check` lints this file's invariants (pinned base, non-root,
# no secrets, HEALTHCHECK, VOLUME) without a container runtime.

# The only image pulled, pinned by version: pin it by digest
# (golang:1.26.8-bookworm@sha256:…) in your own registry for byte-for-byte
# reproducible builds.
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
      -o /rootfs/copilot-proxy ./cmd/copilot-proxy
# The few files the binary needs from an OS, made here so that the build
# image is the only one pulled (the CA bundle is therefore as recent as
# that image's ca-certificates): CA certificates for GitHub and Copilot, a
# passwd entry for the non-root user 65532 and a sticky /tmp (SQLite's
# temporary files), in /rootfs; the store's directory apart, in /rootdata,
# so that it is copied once, with its owner.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootdata/data \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/data:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp

# scratch: nothing but the files above (no shell, no package manager).
FROM scratch
COPY --from=build /rootfs/ /
# The store's directory, owned by the user that writes it.
COPY --from=build --chown=65532:65532 /rootdata/ /
USER 65532:65532
# Listen on every interface inside the container: client keys are on (serve
# refuses --no-auth on a non-loopback address). The SQLite store lives on
# the volume; the GitHub token comes at run time (a secret file named by
# COPILOT_PROXY_GITHUB_TOKEN_FILE, or COPILOT_PROXY_GITHUB_TOKEN), never from
# the image.
ENV COPILOT_PROXY_ADDR=0.0.0.0:8080 \
    COPILOT_PROXY_DB=/data/copilot-proxy.db \
    COPILOT_PROXY_LOG_FORMAT=json \
    HOME=/data
VOLUME ["/data"]
EXPOSE 8080
# No shell or curl in the image: the binary checks its own /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/copilot-proxy", "healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/copilot-proxy"]
CMD ["serve"]
