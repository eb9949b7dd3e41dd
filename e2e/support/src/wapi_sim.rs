//! A wapi-sim process of the test's own: free port, own certificate directory, killed when
//! dropped. Shared by the Infoblox backend's tests and the k0rdent tests.
//!
//! The binary is `target/debug/wapi-sim` of this workspace (or `WAPI_SIM_BIN`). Cargo cannot
//! build another package's binary for a test, so the first test that finds it missing runs
//! `cargo build -p wapi-sim` once; a stale binary is rebuilt by `make test`, which builds the
//! whole workspace first.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

pub struct Sim {
    child: Child,
    pub addr: String,
    pub ca_pem: Vec<u8>,
    /// The client certificates, when started with [`Sim::start_requiring_client_certs`].
    pub client_certs: Option<ClientCerts>,
    http: reqwest::Client,
    _dir: TempDir,
}

/// A PEM certificate and its PEM private key.
pub struct ClientPair {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// What `--client-certs` wrote: a pair the sim trusts and one it does not.
pub struct ClientCerts {
    pub trusted: ClientPair,
    pub untrusted: ClientPair,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("WAPI_SIM_BIN") {
        return bin.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/wapi-sim");
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "wapi-sim"])
            .current_dir(&root)
            .status()
            .expect("run cargo build -p wapi-sim");
        assert!(status.success(), "cargo build -p wapi-sim failed");
    }
    bin
}

impl Sim {
    /// Starts a sim that accepts `username` / `password`.
    pub async fn start(username: &str, password: &str) -> Sim {
        Sim::launch(username, password, &[]).await
    }

    /// Starts a sim whose WAPI answers only requests showing its trusted client certificate
    /// (see `wapi-sim --help`); `username` / `password` are checked only when sent too.
    pub async fn start_requiring_client_certs(username: &str, password: &str) -> Sim {
        let mut sim = Sim::launch(username, password, &["--client-certs", "required"]).await;
        let certs = sim._dir.0.join("certs");
        let read = |f: &str| {
            std::fs::read(certs.join(f)).unwrap_or_else(|e| panic!("wapi-sim wrote no {f}: {e}"))
        };
        sim.client_certs = Some(ClientCerts {
            trusted: ClientPair {
                cert_pem: read("client.pem"),
                key_pem: read("client-key.pem"),
            },
            untrusted: ClientPair {
                cert_pem: read("untrusted-client.pem"),
                key_pem: read("untrusted-client-key.pem"),
            },
        });
        sim
    }

    async fn launch(username: &str, password: &str, extra_args: &[&str]) -> Sim {
        let dir = std::env::temp_dir().join(crate::unique_name("wapi-sim"));
        std::fs::create_dir_all(&dir).expect("create the sim's directory");
        let addr_file = dir.join("addr");
        let child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--addr-file"])
            .arg(&addr_file)
            .arg("--cert-dir")
            .arg(dir.join("certs"))
            .args(["--username", username, "--password", password])
            .args(extra_args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start wapi-sim");
        let mut sim_addr = None;
        for _ in 0..200 {
            if let Ok(a) = std::fs::read_to_string(&addr_file)
                && !a.trim().is_empty()
            {
                sim_addr = Some(a.trim().to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let addr = sim_addr.expect("wapi-sim wrote its address within 10s");
        let ca_pem = std::fs::read(dir.join("certs/ca.pem")).expect("wapi-sim wrote ca.pem");
        // kube and reqwest both use ring; one process-wide provider serves both.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
            .build()
            .unwrap();
        Sim {
            child,
            addr,
            ca_pem,
            client_certs: None,
            http,
            _dir: TempDir(dir),
        }
    }

    pub fn port(&self) -> String {
        self.addr.rsplit(':').next().unwrap().to_string()
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("https://{}/_sim/{path}", self.addr));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sim control API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "sim {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn seed(&self, body: Value) {
        self.control(reqwest::Method::POST, "seed", Some(body))
            .await;
    }

    /// Adds a fault rule that holds until [`Sim::clear_faults`].
    /// An empty `object` matches every object type.
    pub async fn fault(&self, method: &str, object: &str, action: Value) {
        let mut rule = json!({"method": method, "count": 0, "action": action});
        if !object.is_empty() {
            rule["object"] = json!(object);
        }
        self.control(reqwest::Method::POST, "faults", Some(rule))
            .await;
    }

    /// Adds a fault rule for the next `count` matching requests.
    pub async fn fault_n(&self, method: &str, object: &str, count: u32, action: Value) {
        let rule = json!({"method": method, "object": object, "count": count, "action": action});
        self.control(reqwest::Method::POST, "faults", Some(rule))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "faults", None).await;
    }

    /// Every host record the sim holds.
    pub async fn hosts(&self) -> Vec<Value> {
        let state = self.control(reqwest::Method::GET, "state", None).await;
        state["record:host"].as_array().cloned().unwrap_or_default()
    }

    /// Host records named `name`.
    pub async fn hosts_named(&self, name: &str) -> Vec<Value> {
        self.hosts()
            .await
            .into_iter()
            .filter(|h| h["name"] == name)
            .collect()
    }

    /// Fixed addresses named `name`.
    pub async fn fixed_named(&self, name: &str) -> Vec<Value> {
        let state = self.control(reqwest::Method::GET, "state", None).await;
        state["fixedaddress"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f["name"] == name)
            .collect()
    }

    pub async fn requests(&self) -> Value {
        self.control(reqwest::Method::GET, "requests", None).await
    }
}
