//! The simulation's store: objects in memory, every call taking a seeded random while on
//! tokio's (paused, virtual) clock, and failing, answering ambiguously or hanging as the seed
//! says. A put that hangs lands later whatever happens to its caller, as a hung fsync does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lode_core::store::{Capabilities, JournalStore, StoreError};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What happens to one put.
enum Fate {
    /// Lands (or finds the key taken) and answers.
    Normal,
    /// The request is lost: no effect, an ambiguous answer.
    LoseRequest,
    /// Lands, but the answer is lost: an ambiguous answer.
    LoseAnswer,
    /// Never answers; lands after `HANG`, whatever its caller does meanwhile.
    Hang,
}

/// How long a hung put takes to land: well past any flush timeout the simulation uses.
const HANG: Duration = Duration::from_secs(20);

/// The shared objects and the seeded source of every delay and fault.
#[derive(Debug)]
pub struct SimStore {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    rng: Mutex<StdRng>,
    /// Faults on (the run) or off (the final check).
    faulty: std::sync::atomic::AtomicBool,
}

impl SimStore {
    /// An empty store whose delays and faults follow `seed`.
    pub fn new(seed: u64) -> Arc<SimStore> {
        Arc::new(SimStore {
            objects: Default::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            faulty: true.into(),
        })
    }

    /// Stops injecting faults and delays (for the final check).
    pub fn calm(&self) {
        self.faulty.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    fn faulty(&self) -> bool {
        self.faulty.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A call's delay: mostly under 2 ms, sometimes up to 50 ms.
    async fn delay(&self) {
        if !self.faulty() {
            return;
        }
        let micros = {
            let mut rng = self.rng.lock();
            if rng.random_bool(0.05) {
                rng.random_range(2_000..50_000)
            } else {
                rng.random_range(50..2_000)
            }
        };
        tokio::time::sleep(Duration::from_micros(micros)).await;
    }

    /// Whether a read fails (retryably) this time.
    fn read_fails(&self) -> bool {
        self.faulty() && self.rng.lock().random_bool(0.01)
    }

    fn fate(&self) -> Fate {
        if !self.faulty() {
            return Fate::Normal;
        }
        match self.rng.lock().random_range(0..1000) {
            0..10 => Fate::LoseRequest,
            10..20 => Fate::LoseAnswer,
            20..23 => Fate::Hang,
            _ => Fate::Normal,
        }
    }

    fn insert(objects: &Mutex<BTreeMap<String, Vec<u8>>>, key: &str, bytes: Vec<u8>) -> bool {
        let mut objects = objects.lock();
        if objects.contains_key(key) {
            return false;
        }
        objects.insert(key.to_string(), bytes);
        true
    }

    fn ambiguous(key: &str) -> StoreError {
        StoreError::Ambiguous {
            operation: "put",
            key: key.into(),
            store: "sim".into(),
            message: "injected: no answer".into(),
        }
    }

    fn unavailable(operation: &'static str, key: &str) -> StoreError {
        StoreError::Unavailable {
            operation,
            key: key.into(),
            store: "sim".into(),
            message: "injected".into(),
        }
    }
}

#[async_trait]
impl JournalStore for SimStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 64 << 20,
            ordered_list: true,
            poll_interval: Duration::from_millis(1),
        }
    }

    fn location(&self) -> String {
        "sim://".into()
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let fate = self.fate();
        self.delay().await;
        match fate {
            Fate::Normal => match SimStore::insert(&self.objects, key, bytes) {
                true => Ok(()),
                false => Err(StoreError::AlreadyExists { key: key.into(), store: "sim".into() }),
            },
            Fate::LoseRequest => Err(SimStore::ambiguous(key)),
            Fate::LoseAnswer => {
                SimStore::insert(&self.objects, key, bytes);
                Err(SimStore::ambiguous(key))
            }
            Fate::Hang => {
                let (objects, key) = (self.objects.clone(), key.to_string());
                tokio::spawn(async move {
                    tokio::time::sleep(HANG).await;
                    SimStore::insert(&objects, &key, bytes);
                });
                std::future::pending().await
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.delay().await;
        if self.read_fails() {
            return Err(SimStore::unavailable("get", key));
        }
        Ok(self.objects.lock().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.delay().await;
        if self.read_fails() {
            return Err(SimStore::unavailable("list", prefix));
        }
        let objects = self.objects.lock();
        Ok(objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.delay().await;
        self.objects.lock().remove(key);
        Ok(())
    }

    async fn clean_temporary(&self, _older_than: Duration) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// One master's view of the store: its calls wait while the master is paused (a SIGSTOPped
/// process makes no I/O), then go to the shared store.
#[derive(Debug)]
pub struct MasterView {
    store: Arc<SimStore>,
    paused_until: Mutex<tokio::time::Instant>,
}

impl MasterView {
    /// A view of `store` that is not paused.
    pub fn new(store: Arc<SimStore>) -> Arc<MasterView> {
        Arc::new(MasterView { store, paused_until: Mutex::new(tokio::time::Instant::now()) })
    }

    /// Pauses this master's store calls for `how_long` from now.
    pub fn pause(&self, how_long: Duration) {
        *self.paused_until.lock() = tokio::time::Instant::now() + how_long;
    }

    async fn wait(&self) {
        let until = *self.paused_until.lock();
        tokio::time::sleep_until(until).await;
    }
}

#[async_trait]
impl JournalStore for MasterView {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    fn location(&self) -> String {
        self.store.location()
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.wait().await;
        self.store.put_if_absent(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.wait().await;
        self.store.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.wait().await;
        self.store.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.wait().await;
        self.store.delete(key).await
    }

    async fn clean_temporary(&self, older_than: Duration) -> Result<usize, StoreError> {
        self.store.clean_temporary(older_than).await
    }
}
