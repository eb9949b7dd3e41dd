//! Leader election on a `coordination.k8s.io` Lease, with client-go's semantics.
//!
//! Why a replica that loses the lease cannot overlap with the next leader: it stops as soon
//! as it has gone `renew_deadline` without a successful renewal, while a candidate takes the
//! lease only after seeing it unchanged for `lease_duration` (> `renew_deadline`) on its own
//! clock. Expiry is judged by when a candidate *observed* the record change, never by the
//! holder's `renewTime`, so clock skew between nodes does not matter.
//!
//! Writes are `replace` with the read `resourceVersion`: two candidates racing for an
//! expired lease cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

/// Flags of leader election.
#[derive(clap::Args, Debug, Clone)]
pub struct LeaderArgs {
    /// Run the controllers only while holding the Lease, so that one of several replicas
    /// works at a time. The webhook and the endpoints are served by every replica.
    // Written `--leader-elect`, `--leader-elect=true` or `--leader-elect=false`, as Go flags.
    #[arg(
        long,
        env = "IPAM_LEADER_ELECT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub leader_elect: bool,
    /// Namespace of the Lease (defaults to the pod's namespace, else `default`).
    #[arg(long, env = "IPAM_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "IPAM_LEADER_ELECTION_ID", default_value = "ipam-operator")]
    pub leader_election_id: String,
    /// Seconds a candidate waits, after last seeing the Lease change, before taking it over.
    #[arg(long, default_value_t = 15)]
    pub leader_election_lease_duration: u64,
    /// Seconds the leader keeps working without a successful renewal; must be shorter
    /// than the lease duration.
    #[arg(long, default_value_t = 10)]
    pub leader_election_renew_deadline: u64,
    /// Seconds between attempts to take or renew the Lease.
    #[arg(long, default_value_t = 2)]
    pub leader_election_retry_period: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "--leader-election-renew-deadline ({renew}s) must be shorter than --leader-election-lease-duration ({lease}s), \
         and --leader-election-retry-period ({retry}s) shorter than the renew deadline"
    )]
    Timing { lease: u64, renew: u64, retry: u64 },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Settings {
    pub fn from_args(args: &LeaderArgs, identity: String) -> Result<Self, LeaderError> {
        let (lease, renew, retry) = (
            args.leader_election_lease_duration,
            args.leader_election_renew_deadline,
            args.leader_election_retry_period,
        );
        if renew >= lease || retry >= renew || retry == 0 {
            return Err(LeaderError::Timing {
                lease,
                renew,
                retry,
            });
        }
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(pod_namespace)
            .unwrap_or_else(|| "default".into());
        Ok(Settings {
            namespace,
            name: args.leader_election_id.clone(),
            identity,
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        })
    }
}

fn pod_namespace() -> Option<String> {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
}

/// The Lease record as last seen, and when this process saw it change.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    duration: Duration,
    at: Instant,
}

pub struct Elector {
    api: Api<Lease>,
    settings: Settings,
    observed: Option<Observed>,
}

impl Elector {
    pub fn new(client: Client, settings: Settings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    /// Waits until this process holds the Lease; then the lease is kept renewed in the
    /// background and the returned [`Leadership`] says when it is lost.
    pub async fn acquire(mut self) -> Leadership {
        let s = self.settings.clone();
        tracing::info!(lease = %format!("{}/{}", s.namespace, s.name), identity = %s.identity, "waiting to lead");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read or take the Lease; retrying"),
            }
            tokio::time::sleep(s.retry_period).await;
        }
        tracing::info!(lease = %format!("{}/{}", s.namespace, s.name), identity = %s.identity, "leading");
        let (lost_tx, lost) = watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (api, settings) = (self.api.clone(), self.settings.clone());
        let renewer = tokio::spawn(self.keep(lost_tx, stopped));
        Leadership {
            lost,
            stop,
            renewer,
            api,
            settings,
        }
    }

    /// Renews every retry period; gives up — and reports the lease lost — once a renewal
    /// has not succeeded for the renew deadline, or another holder is seen.
    async fn keep(
        mut self,
        lost: watch::Sender<bool>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut renewed = Instant::now();
        loop {
            let deadline = renewed + self.settings.renew_deadline;
            tokio::select! {
                _ = tokio::time::sleep(self.settings.retry_period) => {}
                // Released: stop renewing, and do not report a loss.
                _ = &mut stop => return,
            }
            match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!(holder = ?self.observed.as_ref().and_then(|o| o.holder.clone()), "the Lease is held by another replica");
                    break;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the Lease; retrying"),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                tracing::error!(
                    deadline = ?self.settings.renew_deadline,
                    "no successful Lease renewal within the renew deadline"
                );
                break;
            }
        }
        let _ = lost.send(true);
    }

    fn observe(&mut self, spec: &LeaseSpec) {
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let changed = match &self.observed {
            None => true,
            Some(o) => o.holder != holder || o.renew_time != spec.renew_time,
        };
        if changed {
            self.observed = Some(Observed {
                holder,
                renew_time: spec.renew_time.clone(),
                duration: Duration::from_secs(
                    spec.lease_duration_seconds.unwrap_or(0).max(0) as u64
                ),
                at: Instant::now(),
            });
        }
    }

    /// One attempt: `Ok(true)` when this process holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let s = &self.settings;
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&s.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    namespace: Some(s.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(s.identity.clone()),
                    lease_duration_seconds: Some(s.lease_duration.as_secs() as i32),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created.spec.unwrap_or_default());
                    Ok(true)
                }
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(&spec);
        let observed = self.observed.as_ref().expect("observed above");
        let mine = observed.holder.as_deref() == Some(self.settings.identity.as_str());
        let expired = observed.at + observed.duration <= Instant::now();
        if !mine && observed.holder.is_some() && !expired {
            return Ok(false);
        }
        let s = &self.settings;
        let mut next = spec.clone();
        if !mine {
            next.acquire_time = Some(now.clone());
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        next.holder_identity = Some(s.identity.clone());
        next.lease_duration_seconds = Some(s.lease_duration.as_secs() as i32);
        next.renew_time = Some(now);
        lease.spec = Some(next);
        match self
            .api
            .replace(&s.name, &PostParams::default(), &lease)
            .await
        {
            Ok(replaced) => {
                self.observe(&replaced.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Held while this process leads.
pub struct Leadership {
    lost: watch::Receiver<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
    renewer: tokio::task::JoinHandle<()>,
    api: Api<Lease>,
    settings: Settings,
}

impl Leadership {
    /// Resolves when the lease is lost; from then on this process must write nothing.
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|l| *l).await;
        }
    }

    /// After a graceful stop: stops renewing and marks the Lease free, so a standby
    /// replica takes over at once instead of after the lease duration.
    pub async fn release(self) {
        let _ = self.stop.send(());
        // Wait for a renewal in flight, so it cannot land after the release.
        let _ = self.renewer.await;
        if *self.lost.borrow() {
            return;
        }
        match release(&self.api, &self.settings).await {
            Ok(()) => tracing::info!("released the Lease"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the Lease; the next leader waits for it to expire")
            }
        }
    }
}

async fn release(api: &Api<Lease>, settings: &Settings) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&settings.name).await? else {
        return Ok(());
    };
    let mut spec = lease.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    lease.spec = Some(spec);
    api.replace(&settings.name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

/// The elector `--leader-elect` asks for, or `None`. The identity is the instance name
/// plus a per-process suffix, so a restarted pod (same name) is a new holder and two
/// processes on one host never share it.
pub fn elector(
    args: &LeaderArgs,
    client: &Client,
    instance: Option<&str>,
) -> Result<Option<Elector>, LeaderError> {
    if !args.leader_elect {
        return Ok(None);
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let identity = format!(
        "{}_{:x}{:x}",
        instance.unwrap_or("ipam-operator"),
        std::process::id(),
        started & 0xffff_ffff
    );
    let settings = Settings::from_args(args, identity)?;
    Ok(Some(Elector::new(client.clone(), settings)))
}
