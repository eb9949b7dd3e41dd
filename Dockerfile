# syntax=docker/dockerfile:1
# The ipam-operator image: a static (musl) binary on distroless/static, run as non-root.
#   docker build -t ipam-operator:0.1.0 .
# Not built by `make test` (it needs a container engine).

# Alpine's Rust targets musl and links statically by default; musl-dev is for ring's C code.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# .git is not copied: pass the commit for ipam_build_info,
#   docker build --build-arg IPAM_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG IPAM_COMMIT=unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ipam-operator \
 && cp target/release/ipam-operator /ipam-operator

# No shell, no package manager; CA certificates for Infoblox over HTTPS; uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /ipam-operator /ipam-operator
USER 65532:65532
EXPOSE 8080 8081 9443
ENTRYPOINT ["/ipam-operator"]
CMD ["run"]
