# The two commands a newcomer needs are `make demo` and `make test`; the rest are parts.
.PHONY: test unit demo up down cluster cluster-down crds bench bench-e2e image release-manifests fmt clean-testbin

test:            ## every test, against a real local kube-apiserver
	e2e/bin/test.sh

unit:            ## the pure tests alone (decisions, engine, parsers): no control plane
	CARGO_INCREMENTAL=$${CARGO_INCREMENTAL:-0} cargo test --locked --workspace --lib
	CARGO_INCREMENTAL=$${CARGO_INCREMENTAL:-0} cargo test --locked -p ipam-engine --tests
	CARGO_INCREMENTAL=$${CARGO_INCREMENTAL:-0} cargo test --locked -p wapi-sim --test scenarios

demo:            ## start everything, apply examples/, show what the operator did
	e2e/bin/dev.sh demo

up:              ## local control plane + CRDs + the operator in the background
	e2e/bin/dev.sh up

down:            ## stop what `make up` started
	e2e/bin/dev.sh down

crds:            ## regenerate crds/ (and the chart's copy) from the Rust types
	cargo run --quiet --locked --bin ipam-operator -- crds > crds/ipam-operator.crds.yaml
	cp crds/ipam-operator.crds.yaml charts/ipam-operator/crds/ipam-operator.crds.yaml

bench:           ## criterion benchmarks (see BENCHMARKS.md)
	cargo bench --workspace --locked

bench-e2e:       ## end-to-end benchmarks: ours, the upstream provider and the raw limit (BENCH_SCENARIOS=...)
	e2e/bin/bench-e2e.sh

cluster:         ## a single-node cluster (containerd, kubelet) with the chart installed; target/cluster/kubeconfig
	e2e/bin/cluster.sh up target/cluster

cluster-down:    ## stop what `make cluster` started and undo what it changed
	e2e/bin/cluster.sh down target/cluster

image:           ## the operator's image as an OCI archive in target/image/, built with buildah (no daemon)
	e2e/bin/build-image.sh

release-manifests: ## metadata.yaml and ipam-components.yaml for clusterctl, in target/release-manifests/
	e2e/bin/release-manifests.sh

fmt:
	cargo fmt --all
