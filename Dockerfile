# syntax=docker/dockerfile:1
# The ipam-operator image: a static (musl) binary and CA certificates on an empty base, run as
# uid 65532.
#   docker build --build-arg IPAM_COMMIT=$(git rev-parse --short=12 HEAD) -t ipam-operator:0.1.0 .
#
# `make image` builds the same image without a container engine: it builds the binary on the
# host and gives buildah the last stage of this file (from `FROM scratch` on), so the two
# cannot drift apart. Keep every file the last stage copies under /out in the build stage.

# Alpine's Rust targets musl and links statically by default; musl-dev is for ring's C code.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
# .git is not copied: pass the commit for ipam_build_info as a build argument.
ARG IPAM_COMMIT=unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ipam-operator \
 && mkdir -p /out/etc/ssl/certs \
 && cp target/release/ipam-operator /out/ipam-operator \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

# No shell, no package manager, no libc: the binary, and CA certificates for Infoblox over HTTPS.
FROM scratch
COPY --from=build /out/ipam-operator /ipam-operator
COPY --from=build /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080 8081 9443
ENTRYPOINT ["/ipam-operator"]
CMD ["run"]
