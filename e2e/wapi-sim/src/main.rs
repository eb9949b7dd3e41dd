//! The `wapi-sim` binary: parse the command line, start the server, print where it listens.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use wapi_sim::{ClientCertMode, Options, SimConfig, User};

const ABOUT: &str = "An in-memory Infoblox WAPI test server (HTTPS, Basic auth, the ibapauth cookie and \
optionally client certificates), \
with a control API for seeding, request logs and fault injection.";

const WIRE_API: &str = r#"WIRE API (https://<addr>/wapi/v<version>/...)
  Versions: every version from --min-wapi-version to --max-wapi-version (e.g. 2.5, 2.12, 2.12.3);
  others get 400 "Version X not supported". Paths are percent-decoded once; a ref is looked up by
  <objtype>/<id> only, so record%3Ahost/<id>%3Ah/%2520 works.
  Auth: HTTP Basic on any request sets the cookie
    ibapauth="group=..,ctime=<epoch>,ip=..,auth=LOCAL,client=API,su=1,timeout=<s>,mtime=..,user=<u>,<token>"
  which alone authenticates until ctime+timeout. Basic wins over a cookie. POST logout revokes it.
  Failures: 401, HTML body, WWW-Authenticate: Basic realm="InfoBlox ONE Platform".
  Client certificates (--client-certs optional|required): the server asks every connection for
  a certificate and writes to --cert-dir
    client-ca.pem                         the CA it trusts for client certificates
    client.pem, client-key.pem            a client certificate that CA signed, and its key
    untrusted-client.pem, untrusted-client-key.pem
                                          a pair signed by a CA it does not trust
  A certificate chaining to client-ca.pem authenticates a request on its own (no Basic, no
  cookie set), as NIOS certificate authentication does. The TLS handshake never fails over a
  certificate: one that does not chain (or is expired), or none with "required", gets the same
  401 as a wrong password. Every credential sent must be right: a wrong Basic header beside a
  trusted certificate is 401 too. The control API needs no certificate.

  GET <type>?<search>   search -> JSON array ([] exactly when empty)
  GET <ref>             one object
  POST <type>           create -> 201 and the ref string (the object if _return_fields is given)
  PUT <ref>             update -> 200 and the ref string (or the object)
  DELETE <ref>          delete -> 200 and the ref string
  POST <ref>?_function=next_available_ip      (network, ipv6network, range) body {"num":N,"exclude":[..]} -> {"ips":[..]}
  POST <ref>?_function=next_available_network (networkcontainer, ipv6networkcontainer) body {"cidr":P,"num":N} -> {"networks":[..]}

  Objects: networkview, view, zone_auth, network, ipv6network, networkcontainer,
    ipv6networkcontainer, range, record:host, record:host_ipv4addr and record:host_ipv6addr
    (read only), fixedaddress, ipv6fixedaddress, extensibleattributedef.
  Arguments: _return_fields (repeats are a union), _return_fields+, _max_results (default -1000),
    _return_as_object, _paging, _page_id, _return_type=json|json-pretty, _function;
    _proxy_search and _inheritance are ignored; others give 400 "Unknown argument/field".
  Search: field=v, field~=regex, field:=v (case-insensitive), field<=v, field>=v, field!=v,
    *EA=v; only searchable fields, else 400 "Field is not searchable".
  Allocation: func:nextavailableip:<cidr>[,<netview>] | <network ref> | <start>-<end>[,<netview>]
    in any address field, and the longhand {"_object_function":"next_available_ip",...};
    func:nextavailablenetwork:<container>,<netview>,<prefix> in a network's "network".
    Lowest free address first, atomically; errors use the NIOS texts (network full,
    "does not match any unique networks/ranges").

CONTROL API (same port, no auth; JSON)
  GET    /_sim/health                       "ok"
  POST   /_sim/reset                        empty grid (network view and DNS view "default"), no faults, empty log
  POST   /_sim/seed                         create objects, all or nothing:
           {"network_views":["nv"], "dns_views":[{"name":"internal","network_view":"nv"}],
            "zones":[{"fqdn":"example.com","view":"default.nv"}],
            "network_containers":["10.0.0.0/16"], "networks":[{"network":"10.0.1.0/24","network_view":"nv"}],
            "ranges":[...], "ea_definitions":["Owner"], "hosts":[...], "fixed_addresses":[...],
            "users":[{"username":"u","password":"p"}]}
  POST   /_sim/presets/telekom              {"network_view":"nv","zone":"example.com"}: what telekom's suite assumes
  GET    /_sim/state                        every object, all fields
  GET    /_sim/requests?since=<seq>         request log: method, decoded path, query pairs, body, status, auth, fault
  DELETE /_sim/requests                     clear the log
  GET    /_sim/faults                       active fault rules
  POST   /_sim/faults                       add a rule for the next `count` matching requests (0 = until cleared):
           {"method":"POST","object":"record:host","path":"<regex>","count":1,"action":{"kind":K,...}}
           K = status {"status":503[,"error","code","text"]} | unauthorized | latency {"ms":2000}
             | timeout_after_commit {"ms":60000} | drop_after_commit | network_full
  DELETE /_sim/faults                       clear all rules
  POST   /_sim/sessions/expire              every ibapauth cookie stops working
  GET    /_sim/config, PUT /_sim/config     run-time settings, e.g. {"first_usable_offset":2,
           "reserved_offsets":[1,-2],"allow_duplicate_non_dns_hosts":true,"session_timeout_secs":5}

EXAMPLES
  wapi-sim --listen 127.0.0.1:0 --addr-file /tmp/wapi.addr --cert-dir /tmp/wapi-certs &
  ADDR=$(cat /tmp/wapi.addr)
  curl --cacert /tmp/wapi-certs/ca.pem -X POST https://$ADDR/_sim/seed \
       -d '{"network_views":["nv"],"networks":[{"network":"10.0.0.0/24","network_view":"nv"}]}'
  curl --cacert /tmp/wapi-certs/ca.pem -u admin:infoblox -X POST https://$ADDR/wapi/v2.12/record:host \
       -d '{"name":"m1","configure_for_dns":false,"network_view":"nv",
            "ipv4addrs":[{"ipv4addr":"func:nextavailableip:10.0.0.0/24,nv"}]}'
  curl --cacert /tmp/wapi-certs/ca.pem -X POST https://$ADDR/_sim/faults \
       -d '{"method":"POST","object":"record:host","action":{"kind":"timeout_after_commit","ms":30000}}'"#;

#[derive(Debug, Parser)]
#[command(
    name = "wapi-sim",
    version,
    about = ABOUT,
    after_help = "Run with --help for the wire API and control API reference.",
    after_long_help = WIRE_API
)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (see --addr-file).
    #[arg(long, default_value = "127.0.0.1:0", env = "WAPI_SIM_LISTEN")]
    listen: SocketAddr,
    /// Write the bound address (ip:port) to this file once listening, for scripts.
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Directory for ca.pem (trust this), server.pem and server-key.pem; created if missing.
    #[arg(long)]
    cert_dir: PathBuf,
    /// Extra DNS name or IP for the server certificate (repeatable); localhost, 127.0.0.1
    /// and ::1 are always included.
    #[arg(long = "cert-name")]
    cert_names: Vec<String>,
    /// User accepted by Basic auth; more can be added with POST /_sim/seed.
    #[arg(long, default_value = "admin", env = "WAPI_SIM_USERNAME")]
    username: String,
    /// Password of --username.
    #[arg(
        long,
        default_value = "infoblox",
        env = "WAPI_SIM_PASSWORD",
        hide_env_values = true
    )]
    password: String,
    /// Highest WAPI version accepted; all versions up to it are served.
    #[arg(long, default_value = "2.13.6")]
    max_wapi_version: String,
    /// Lowest WAPI version accepted.
    #[arg(long, default_value = "2.0")]
    min_wapi_version: String,
    /// Lifetime of an ibapauth session in seconds.
    #[arg(long, default_value_t = 600)]
    session_timeout: u64,
    /// Offset of the first address nextavailableip hands out in a network.
    #[arg(long, default_value_t = 1)]
    first_usable_offset: u64,
    /// Offsets never handed out in any network (repeatable); negative counts from the end.
    #[arg(long = "reserved-offset", allow_hyphen_values = true)]
    reserved_offsets: Vec<i64>,
    /// Let two non-DNS host records share a name in one network view.
    #[arg(long)]
    allow_duplicate_non_dns_hosts: bool,
    /// Client certificates: "optional" generates a client CA and certificates in --cert-dir
    /// and lets a trusted certificate authenticate without a password; "required" also
    /// refuses (401) every WAPI request without one. See --help.
    #[arg(long, value_enum, default_value_t = ClientCertMode::Off)]
    client_certs: ClientCertMode,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Name the provider once for the process, so nothing else linked in can pick another.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let cli = Cli::parse();
    let config = SimConfig {
        max_wapi_version: cli.max_wapi_version,
        min_wapi_version: cli.min_wapi_version,
        session_timeout_secs: cli.session_timeout,
        first_usable_offset: cli.first_usable_offset,
        reserved_offsets: cli.reserved_offsets,
        allow_duplicate_non_dns_hosts: cli.allow_duplicate_non_dns_hosts,
    };
    let opts = Options {
        listen: cli.listen,
        cert_dir: cli.cert_dir,
        users: vec![User {
            username: cli.username,
            password: cli.password,
        }],
        config,
        cert_names: cli.cert_names,
        client_certs: cli.client_certs,
    };
    let running = match wapi_sim::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wapi-sim: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(path) = &cli.addr_file {
        // Write then rename, so a script polling for the file never reads half of it.
        let tmp = path.with_extension("tmp");
        let written = std::fs::write(&tmp, running.addr.to_string())
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            eprintln!("wapi-sim: writing {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    println!(
        "wapi-sim listening on {} (CA: {})",
        running.base_url(),
        running.certs.ca.display()
    );
    if let Some(client) = &running.certs.client {
        println!(
            "client certificates: trusted {} (key {}), CA {}",
            client.cert.display(),
            client.key.display(),
            client.ca.display()
        );
    }
    shutdown_signal().await;
    drop(running);
    std::process::ExitCode::SUCCESS
}
