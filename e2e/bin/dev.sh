#!/usr/bin/env bash
# `make up`, `make down`, `make demo`: a local control plane with the operator running
# against it, for trying things by hand. Everything lives under target/dev.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DEV="$ROOT/target/dev"
mkdir -p "$DEV"
# The operator serves its admission webhook here; the API server, on loopback too, calls it.
WEBHOOK_PORT="${IPAM_WEBHOOK_PORT:-9443}"
WEBHOOK_CERTS="$DEV/webhook-certs"
# /metrics and /healthz, /readyz (controller-runtime's ports; the operator reads the same
# variables).
export IPAM_METRICS_PORT="${IPAM_METRICS_PORT:-8080}" IPAM_HEALTH_PORT="${IPAM_HEALTH_PORT:-8081}"
# Flux's source-controller serves chart artifacts here; the chart repository holding the test
# cluster template (e2e/fixtures/charts) is served on the next port.
FLUX_STORAGE_PORT="${IPAM_FLUX_STORAGE_PORT:-9790}"
CHART_REPO_PORT="${IPAM_CHART_REPO_PORT:-9791}"
# wapi-sim, the Infoblox WAPI simulator examples/infoblox points at.
WAPI_SIM_PORT="${IPAM_WAPI_SIM_PORT:-9943}"

kubectl() { "$(cat "$DEV/bin-dir")/kubectl" --kubeconfig "$DEV/kubeconfig" "$@"; }

up() {
  e2e/bin/tools.sh > "$DEV/bin-dir"
  e2e/bin/build-flux.sh > "$DEV/flux-dir"
  cargo build --locked -p ipam-operator -p wapi-sim --bins
  e2e/bin/control-plane.sh start "$DEV/control-plane"
  cp "$DEV/control-plane/kubeconfig" "$DEV/kubeconfig"
  unpoint_conversion
  # The operator's own CRDs, and the kinds it consumes that Cluster API and Flux install in a
  # real management cluster (Flux's are the pinned controllers' own).
  for crds in crds/ e2e/fixtures/capi/ "$(cat "$DEV/flux-dir")/crds/"; do
    kubectl apply --server-side -f "$crds" >/dev/null
    kubectl wait --for condition=established --timeout=60s -f "$crds" >/dev/null
  done
  stop_operator
  start_flux
  start_wapi_sim
  KUBECONFIG="$DEV/kubeconfig" nohup ./target/debug/ipam-operator run \
    --webhook-port "$WEBHOOK_PORT" --webhook-cert-dir "$WEBHOOK_CERTS" \
    --conversion-url "https://127.0.0.1:$WEBHOOK_PORT" >"$DEV/operator.log" 2>&1 &
  echo $! > "$DEV/operator.pid"
  wait_for_webhook
  register_webhook
  wait_for_ready
  echo "up: control plane and operator running, pool webhook on https://127.0.0.1:$WEBHOOK_PORT"
  echo "    export KUBECONFIG=$DEV/kubeconfig; kubectl is $(cat "$DEV/bin-dir")/kubectl"
  echo "    operator log: $DEV/operator.log"
  echo "    metrics: http://127.0.0.1:$IPAM_METRICS_PORT/metrics;" \
    "probes: http://127.0.0.1:$IPAM_HEALTH_PORT/healthz, /readyz"
}

# The operator writes ca.crt (generating a certificate on its first start) before it
# listens; any HTTP answer over TLS that trusts that CA means it serves.
wait_for_webhook() {
  local pid
  pid="$(cat "$DEV/operator.pid")"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { cat "$DEV/operator.log" >&2; exit 1; }
    if [ -f "$WEBHOOK_CERTS/ca.crt" ] && curl -s -o /dev/null --max-time 2 \
      --cacert "$WEBHOOK_CERTS/ca.crt" "https://127.0.0.1:$WEBHOOK_PORT/"; then
      return 0
    fi
    sleep 0.2
  done
  echo "the operator's webhook does not answer on port $WEBHOOK_PORT; its log:" >&2
  tail -n 20 "$DEV/operator.log" >&2
  exit 1
}

# The operator points the pool CRDs' conversion webhook at its URL (--conversion-url). On a
# control plane still running from an earlier `make up`, give them back the generated Service
# first: re-applying crds/ would otherwise name both a URL and a Service, which is refused.
unpoint_conversion() {
  local crd
  for crd in inclusterippools globalinclusterippools; do
    kubectl get crd "$crd.ipam.cluster.x-k8s.io" >/dev/null 2>&1 || continue
    kubectl patch crd "$crd.ipam.cluster.x-k8s.io" --type=merge -p '{"spec":{"conversion":{"webhook":{"clientConfig":{"url":null,"service":{"namespace":"ipam-system","name":"ipam-operator-webhook","path":"/convert","port":443}}}}}}' >/dev/null
  done
}

# /readyz answers 200 once every cache the controllers read has synced.
wait_for_ready() {
  for _ in $(seq 1 150); do
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$IPAM_HEALTH_PORT/readyz"; then
      return 0
    fi
    sleep 0.2
  done
  echo "the operator is not ready (http://127.0.0.1:$IPAM_HEALTH_PORT/readyz); its log:" >&2
  tail -n 20 "$DEV/operator.log" >&2
  exit 1
}

# The upstream's webhook names and paths, called by URL since the operator runs outside
# the cluster.
register_webhook() {
  local ca
  ca="$(base64 -w0 < "$WEBHOOK_CERTS/ca.crt")"
  webhook() { # kind resource
    cat <<YAML
- name: validation.$1.ipam.cluster.x-k8s.io
  clientConfig:
    url: https://127.0.0.1:$WEBHOOK_PORT/validate-ipam-cluster-x-k8s-io-v1alpha2-$1
    caBundle: $ca
  rules:
  - apiGroups: [ipam.cluster.x-k8s.io]
    apiVersions: [v1alpha2]
    operations: [CREATE, UPDATE, DELETE]
    resources: [$2]
  failurePolicy: Fail
  matchPolicy: Equivalent
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
YAML
  }
  metal3_webhook() { # kind resource; Metal3 validates on create and update only
    cat <<YAML
- name: validation.$1.ipam.metal3.io
  clientConfig:
    url: https://127.0.0.1:$WEBHOOK_PORT/validate-ipam-metal3-io-v1alpha1-$1
    caBundle: $ca
  rules:
  - apiGroups: [ipam.metal3.io]
    apiVersions: [v1alpha1]
    operations: [CREATE, UPDATE]
    resources: [$2]
  failurePolicy: Fail
  matchPolicy: Equivalent
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
YAML
  }
  {
    printf '%s\n' 'apiVersion: admissionregistration.k8s.io/v1' 'kind: ValidatingWebhookConfiguration' \
      'metadata: {name: ipam-operator}' 'webhooks:'
    webhook inclusterippool inclusterippools
    webhook globalinclusterippool globalinclusterippools
    webhook inclusterprefixpool inclusterprefixpools
    webhook globalinclusterprefixpool globalinclusterprefixpools
    metal3_webhook ippool ippools
    metal3_webhook ipclaim ipclaims
    metal3_webhook ipaddress ipaddresses
  } | kubectl apply --server-side -f - >/dev/null
}

stop_operator() {
  local pid
  for pid in operator source-controller helm-controller chart-repo wapi-sim; do
    if [ -f "$DEV/$pid.pid" ]; then
      kill "$(cat "$DEV/$pid.pid")" 2>/dev/null || true
      rm -f "$DEV/$pid.pid"
    fi
  done
}

# Flux as a management cluster runs it: source-controller and helm-controller (watching
# `default`, where the examples go), and the chart repository a `kcm-templates`
# HelmRepository points at, holding the test cluster template packaged with the project's helm.
start_flux() {
  local flux bin
  flux="$(cat "$DEV/flux-dir")"; bin="$(cat "$DEV/bin-dir")"
  mkdir -p "$DEV/flux/storage"
  rm -rf "$DEV/charts"; mkdir -p "$DEV/charts"
  "$bin/helm" package e2e/fixtures/charts/* -d "$DEV/charts" >/dev/null
  "$bin/helm" repo index "$DEV/charts" --url "http://127.0.0.1:$CHART_REPO_PORT"
  nohup python3 -m http.server --bind 127.0.0.1 --directory "$DEV/charts" "$CHART_REPO_PORT" \
    >"$DEV/chart-repo.log" 2>&1 &
  echo $! > "$DEV/chart-repo.pid"
  KUBECONFIG="$DEV/kubeconfig" RUNTIME_NAMESPACE=default nohup "$flux/source-controller" \
    --watch-all-namespaces=false --storage-path "$DEV/flux/storage" \
    --storage-addr "127.0.0.1:$FLUX_STORAGE_PORT" --storage-adv-addr "127.0.0.1:$FLUX_STORAGE_PORT" \
    --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 --requeue-dependency 2s \
    >"$DEV/source-controller.log" 2>&1 &
  echo $! > "$DEV/source-controller.pid"
  KUBECONFIG="$DEV/kubeconfig" RUNTIME_NAMESPACE=default nohup "$flux/helm-controller" \
    --watch-all-namespaces=false --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 \
    --requeue-dependency 2s >"$DEV/helm-controller.log" 2>&1 &
  echo $! > "$DEV/helm-controller.pid"
  kubectl apply --server-side -f - >/dev/null <<EOF
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: kcm-templates
  namespace: default
spec:
  url: http://127.0.0.1:$CHART_REPO_PORT
  interval: 1m
EOF
}

# The Infoblox grid of examples/infoblox: wapi-sim with the example's user and network, its
# CA in the Secret the example's InfobloxInstance trusts.
start_wapi_sim() {
  local certs="$DEV/wapi-sim"
  nohup ./target/debug/wapi-sim --listen "127.0.0.1:$WAPI_SIM_PORT" --cert-dir "$certs" \
    --username admin --password infoblox >"$DEV/wapi-sim.log" 2>&1 &
  echo $! > "$DEV/wapi-sim.pid"
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null --cacert "$certs/ca.pem" "https://127.0.0.1:$WAPI_SIM_PORT/_sim/health" && break
    sleep 0.1
  done
  curl -sf -o /dev/null --cacert "$certs/ca.pem" -H 'Content-Type: application/json' \
    -d '{"networks": ["10.60.0.0/24"]}' "https://127.0.0.1:$WAPI_SIM_PORT/_sim/seed"
  kubectl create secret generic wapi-sim-ca -n default --from-file=ca.crt="$certs/ca.pem" \
    --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
}

down() {
  stop_operator
  [ -d "$DEV/control-plane" ] && e2e/bin/control-plane.sh stop "$DEV/control-plane"
  echo "down: nothing left running"
}

demo() {
  up
  echo
  echo "==> applying examples/k0rdent: a ClusterTemplate, a deployment with an inline claim,"
  echo "    a standalone claim with a deployment that refers to it, and a machine's address claim"
  kubectl apply --server-side -f examples/k0rdent/
  echo
  echo "==> the operator's template controller made a Flux HelmChart; source-controller fetched it"
  kubectl wait --for=jsonpath='{.status.valid}'=true clustertemplate/vsphere-standalone-cp-1-0-42 --timeout=120s
  kubectl get helmcharts.source.toolkit.fluxcd.io vsphere-standalone-cp-1-0-42
  echo
  echo "==> waiting for the inline claim demo-inline-ipam to be bound"
  kubectl wait --for=jsonpath='{.status.bound}'=true clusteripamclaim/demo-inline-ipam --timeout=60s
  kubectl wait --for=condition=IPAMReady clusterdeployment/demo-inline --timeout=60s >/dev/null
  echo
  echo "==> what the operator made of it"
  kubectl get clusterdeployments,clusteripamclaims,clusteripams,inclusterippools -o wide
  echo
  echo "==> ClusterIPAM demo-inline-ipam: phase and provider data"
  kubectl get clusteripam demo-inline-ipam -o jsonpath='{.status.phase}{"\n"}{.status.providerData}{"\n"}'
  echo
  echo "==> the HelmRelease created once the claim was bound: its IPAM values"
  kubectl get helmrelease demo-inline -o jsonpath='{.spec.values.ipamEnabled}{"\n"}{.spec.values.ipPool}{"\n"}'
  echo
  echo "==> helm-controller installed the cluster chart"
  kubectl wait --for=condition=Ready helmrelease/demo-inline helmrelease/demo-ref --timeout=180s
  "$(cat "$DEV/bin-dir")/helm" --kubeconfig "$DEV/kubeconfig" list -n default
  echo
  echo "==> the chart's IPAddressClaims, one per node, and the addresses the operator gave them"
  kubectl wait --for=condition=Ready ipaddressclaims -l cluster.x-k8s.io/cluster-name=demo-inline --timeout=120s >/dev/null
  kubectl get ipaddresses.ipam.cluster.x-k8s.io \
    -o custom-columns='NAME:.metadata.name,ADDRESS:.spec.address,PREFIX:.spec.prefix,GATEWAY:.spec.gateway,POOL:.spec.poolRef.name'
  echo
  echo "==> demo-ref: its claim names it in spec.cluster, so it binds too"
  kubectl get clusterdeployment demo-ref -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
  echo
  echo "==> the other stories: an in-cluster pool, prefix pools, a Metal3 pool, an Infoblox pool (wapi-sim)"
  kubectl apply --server-side -f examples/in-cluster/ -f examples/prefix-pool/ -f examples/metal3/ \
    -f examples/infoblox/
  kubectl wait --for=condition=Ready ipaddressclaim/machine-0 ipaddressclaim/node-1 \
    ipaddressclaim/tenant-a-lb ipaddressclaim/tenant-a-nodes --timeout=90s >/dev/null
  kubectl wait --for=jsonpath='{.status.address.name}' ipclaim/node-0 --timeout=90s >/dev/null
  kubectl get ipaddresses.ipam.cluster.x-k8s.io machine-0 tenant-a-lb tenant-a-nodes node-1 \
    -o custom-columns='NAME:.metadata.name,ADDRESS:.spec.address,PREFIX:.spec.prefix,GATEWAY:.spec.gateway,POOL KIND:.spec.poolRef.kind'
  kubectl get ipaddresses.ipam.metal3.io \
    -o custom-columns='NAME:.metadata.name,ADDRESS:.spec.address,PREFIX:.spec.prefix,GATEWAY:.spec.gateway,POOL:.spec.pool.name'
  echo
  echo "==> the operator's log (last lines)"
  tail -n 8 "$DEV/operator.log"
  echo
  echo "Look further:  export KUBECONFIG=$DEV/kubeconfig"
  echo "               $(cat "$DEV/bin-dir")/kubectl get clusteripamclaims,clusteripams,inclusterippools -A -o yaml"
  echo "Stop it all:   make down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  demo) demo ;;
  *) echo "usage: dev.sh up|down|demo" >&2; exit 2 ;;
esac
