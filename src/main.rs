use clap::{Parser, Subcommand};

// The caches hold one small object per claim and per address, built from pages of
// thousands, freed and rebuilt on every relist. The system allocator keeps much of what
// such pages free (one arena per thread); mimalloc gives it back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ipam-operator",
    version,
    about = "Static IP address management for Cluster API and k0rdent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster config).
    Run(Box<ipam_operator::run::RunArgs>),
    /// Print every CustomResourceDefinition the operator serves, as multi-document YAML.
    Crds,
}

/// The command line with `run` put first when it starts with a flag: Cluster API's
/// Deployments (clusterctl's, the Cluster API Operator's) pass flags alone, as their
/// managers have no subcommands.
fn command_line(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut args: Vec<String> = args.collect();
    let starts_with_flag = args.get(1).is_some_and(|first| {
        first.starts_with('-') && !["-h", "--help", "-V", "--version"].contains(&first.as_str())
    });
    if starts_with_flag {
        args.insert(1, "run".into());
    }
    args
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse_from(command_line(std::env::args())).command {
        Command::Crds => print!(
            "{}",
            ipam_operator::crds::to_yaml(&ipam_operator::crds::all())?
        ),
        Command::Run(args) => {
            ipam_operator::runtime::logging::init(args.log_format, args.verbosity);
            ipam_operator::run::run(*args).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Vec<String> {
        command_line(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_alone_mean_run() {
        assert_eq!(
            line(&[
                "/ipam-operator",
                "--leader-elect",
                "--diagnostics-address=:8443"
            ]),
            [
                "/ipam-operator",
                "run",
                "--leader-elect",
                "--diagnostics-address=:8443"
            ]
        );
        assert_eq!(line(&["ipam-operator", "crds"]), ["ipam-operator", "crds"]);
        assert_eq!(
            line(&["ipam-operator", "--help"]),
            ["ipam-operator", "--help"]
        );
        assert_eq!(line(&["ipam-operator"]), ["ipam-operator"]);
    }

    #[test]
    fn an_upstream_managers_arguments_parse() {
        // The arguments clusterctl's and the Cluster API Operator's Deployments pass to an
        // IPAM provider, with clusterctl's variables at their defaults.
        let upstream = [
            "/ipam-operator",
            "--leader-elect",
            "--diagnostics-address=:8443",
            "--insecure-diagnostics=false",
            "--health-probe-bind-address=:8081",
            "--webhook-port=9443",
            "--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs",
            "--webhook-cert-name=tls.crt",
            "--webhook-key-name=tls.key",
            "--tls-min-version=VersionTLS12",
            "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "--namespace=capi-system",
            "--watch-filter=team-a",
            "--ippool-concurrency=10",
            "--v=2",
        ];
        let Command::Run(args) = Cli::try_parse_from(line(&upstream)).unwrap().command else {
            panic!("not run");
        };
        assert!(args.leader.leader_elect);
        assert_eq!(args.namespace.as_deref(), Some("capi-system"));
        assert_eq!(args.watch_filter.as_deref(), Some("team-a"));
        assert_eq!(args.ippool_concurrency, Some(10));
        assert_eq!(args.verbosity, Some(2));
        assert!(args.endpoints.metrics().secure);
        assert!(args.tls.policy().is_ok());
        let off = Cli::try_parse_from(line(&["x", "--leader-elect=false"]))
            .unwrap()
            .command;
        let Command::Run(off) = off else {
            panic!("not run")
        };
        assert!(!off.leader.leader_elect);
    }
}
