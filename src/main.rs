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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds => print!(
            "{}",
            ipam_operator::crds::to_yaml(&ipam_operator::crds::all())?
        ),
        Command::Run(args) => {
            ipam_operator::runtime::logging::init(args.log_format);
            ipam_operator::run::run(*args).await?;
        }
    }
    Ok(())
}
