//! A model of the slot protocol (DESIGN §3) as `core/src/journal` implements it.
//!
//! Every step below is one thing a master or the store does atomically in the real code; the
//! checker interleaves them in every order, which covers pauses of any length between them.
//! A paused leader is simply one that takes no step while others do: it still believes it
//! leads, and its next step (a put, a truncation) happens after its lease ended.
//!
//! Each slot holds one batch of one entry, so entry counts always line up: the worst case for
//! a replica that follows a batch off the real history, since no sequence check trips it.

use stateright::{Model, Property};

/// One batch: its term and its one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Batch {
    /// The journal term of the writer.
    pub term: u8,
    /// What it holds.
    pub entry: Entry,
}

/// The entry of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entry {
    /// A `Leader` marker: the first batch of each term.
    Leader,
    /// A client's mutation; each has its own value, so two batches never look alike.
    Value(u8),
}

/// The rules of §3 beyond the fence, each of which can be switched off to show it is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Replay refuses a batch whose term is older than the newest marker applied, or newer
    /// without its own marker first, and reloads the newest checkpoint (hole 1).
    pub term_rule: bool,
    /// A master that stops leading rebuilds its replica from the newest checkpoint (hole 1).
    pub rebuild_on_demotion: bool,
    /// A put that lands where the predecessor slot is gone means "truncated away: deposed".
    pub check_live: bool,
    /// A batch is acknowledged only if the lease still holds after its put.
    pub lease_check_after_put: bool,
    /// A replica that read a batch lists the checkpoints *after* the read, and loads the newest
    /// instead of applying the batch if it covers the batch's slot: a batch in a slot that
    /// truncation re-opened is always below the newest checkpoint (found by this model: without
    /// it a lagging standby applies a deposed writer's stale batch).
    pub list_after_read: bool,
}

impl Rules {
    /// Every rule, as the code has them.
    pub const ALL: Rules = Rules {
        term_rule: true,
        rebuild_on_demotion: true,
        check_live: true,
        lease_check_after_put: true,
        list_after_read: true,
    };
}

/// The bounds of one exploration and the rules in force.
#[derive(Clone, Debug)]
pub struct SlotProtocol {
    /// How many masters.
    pub masters: usize,
    /// How many log slots exist.
    pub slots: usize,
    /// The highest election term.
    pub terms: u8,
    /// How many client mutations are put, over the whole run.
    pub values: u8,
    /// How many checkpoints are written, over the whole run.
    pub checkpoints: u8,
    /// Which rules apply.
    pub rules: Rules,
}

/// What a leader's write is doing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Write {
    /// No batch in flight.
    Idle,
    /// Its put is with the store, not yet answered.
    Waiting {
        /// The slot.
        slot: u8,
        /// The batch.
        batch: Batch,
    },
    /// Its put was answered (landed or not); it has not checked liveness and lease yet.
    Answered {
        /// The slot.
        slot: u8,
        /// The batch.
        batch: Batch,
    },
}

/// A master's role as it believes it to be.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Tails the journal.
    Standby,
    /// Won `term`; catches up, then lands its marker.
    TakingOver {
        /// The term won.
        term: u8,
        /// Its last read found the end of the log and no checkpoint ahead.
        caught_up: bool,
    },
    /// Leads `term`, or believes so (a paused process does not know its lease ended).
    Leader {
        /// The term.
        term: u8,
        /// Its write in progress.
        write: Write,
    },
}

/// One master: its role and its replica (the batch applied at each slot, from slot 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Master {
    /// Its role.
    pub role: Role,
    /// Its replica: what it applied at slots 0, 1, ...
    pub applied: Vec<Batch>,
    /// What its last read of its next slot returned, not yet applied.
    pub read: Option<Option<Batch>>,
}

/// A checkpoint: the replica of its writer up to (not including) `slot`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checkpoint {
    /// It covers every slot below this one.
    pub slot: u8,
    /// The batches it covers.
    pub image: Vec<Batch>,
}

/// The whole system: the elector, the store, the masters and what clients were told.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The newest term the elector granted, and to whom.
    pub term: u8,
    /// The master whose lease is valid now (the holder of `term`).
    pub holder: Option<u8>,
    /// The store's log objects by slot.
    pub log: Vec<Option<Batch>>,
    /// The store's checkpoint objects, ascending by slot.
    pub checkpoints: Vec<Checkpoint>,
    /// Puts the store has not acted on yet, with their writer: a put can hang and land long
    /// after its writer gave up.
    pub in_flight: Vec<(u8, Batch, u8)>,
    /// The masters.
    pub masters: Vec<Master>,
    /// Batches acknowledged to clients, with their slot.
    pub acked: Vec<(u8, Batch)>,
    /// Set if an acknowledgement was sent by a master whose lease had ended.
    pub acked_while_deposed: bool,
    /// Mutations put so far.
    pub values_put: u8,
    /// Checkpoints written so far.
    pub checkpoints_written: u8,
}

/// One atomic step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The elector grants the next term to a standby (the holder's lease lapsed, or it paused).
    Elect(u8),
    /// A standby or a master taking over reads its next slot.
    Read(u8),
    /// It applies what it read (or loads the newest checkpoint, when the slot was empty, the
    /// batch is refused, or a checkpoint covers it).
    Apply(u8),
    /// A master taking over, caught up, puts its marker and checks it is live.
    LandMarker(u8),
    /// A leader puts its next mutation.
    Put(u8),
    /// The store acts on the `n`th put in flight.
    Land(usize),
    /// A leader whose put has not been answered within the flush timeout gives up.
    GiveUp(u8),
    /// A leader checks its answered put: landed, live, lease still valid: acknowledge.
    Confirm(u8),
    /// A leader notices its lease ended.
    Notice(u8),
    /// A master writes a checkpoint of its replica.
    Checkpoint(u8),
    /// A leader deletes one object behind the second-newest checkpoint.
    Truncate(u8),
}

impl SlotProtocol {
    /// The newest checkpoint's image and slot, if any.
    fn newest_checkpoint(state: &State) -> Option<&Checkpoint> {
        state.checkpoints.last()
    }

    /// The replica a master starts again with: the newest checkpoint, or empty.
    fn fresh_replica(state: &State) -> Vec<Batch> {
        Self::newest_checkpoint(state).map(|c| c.image.clone()).unwrap_or_default()
    }

    /// Whether master `m` holds a valid lease for `term`.
    fn lease_valid(state: &State, m: usize, term: u8) -> bool {
        state.holder == Some(m as u8) && state.term == term
    }

    /// Master `m` stops leading (or taking over) and becomes a standby.
    fn demote(&self, state: &mut State, m: usize) {
        state.masters[m].role = Role::Standby;
        state.masters[m].read = None;
        if self.rules.rebuild_on_demotion {
            state.masters[m].applied = Self::fresh_replica(state);
        }
    }

    /// Whether a batch at its replica's next slot is on the history the replica followed.
    fn follows(&self, applied: &[Batch], batch: &Batch) -> bool {
        if !self.rules.term_rule {
            return true;
        }
        let newest = applied.iter().rev().find(|b| b.entry == Entry::Leader).map_or(0, |b| b.term);
        match batch.term.cmp(&newest) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => batch.entry == Entry::Leader,
        }
    }

    /// Loads the newest checkpoint into master `m` if it is ahead; returns whether it did.
    fn load_checkpoint_if_ahead(state: &mut State, m: usize) -> bool {
        match Self::newest_checkpoint(state) {
            Some(c) if c.slot as usize > state.masters[m].applied.len() => {
                state.masters[m].applied = c.image.clone();
                true
            }
            _ => false,
        }
    }

    /// What a master that starts now replays: the newest checkpoint, then the log, by the same
    /// rules as [`Action::Replay`].
    fn recover(&self, state: &State) -> Vec<Batch> {
        let mut replica = state.clone();
        let m = 0;
        replica.masters[m].applied = Self::fresh_replica(state);
        loop {
            let next = replica.masters[m].applied.len();
            match state.log.get(next).copied().flatten() {
                Some(batch) if self.follows(&replica.masters[m].applied, &batch) => {
                    replica.masters[m].applied.push(batch);
                }
                _ => {
                    if !Self::load_checkpoint_if_ahead(&mut replica, m) {
                        return replica.masters[m].applied.clone();
                    }
                }
            }
        }
    }

    /// Whether the slot before `slot` is there (slot 0: whether no checkpoint exists).
    fn live(&self, state: &State, slot: usize) -> bool {
        if !self.rules.check_live {
            return true;
        }
        if slot == 0 {
            state.checkpoints.is_empty()
        } else {
            state.log[slot - 1].is_some()
        }
    }
}

impl Model for SlotProtocol {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let master = Master { role: Role::Standby, applied: Vec::new(), read: None };
        vec![State {
            term: 0,
            holder: None,
            log: vec![None; self.slots],
            checkpoints: Vec::new(),
            in_flight: Vec::new(),
            masters: vec![master; self.masters],
            acked: Vec::new(),
            acked_while_deposed: false,
            values_put: 0,
            checkpoints_written: 0,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (index, master) in state.masters.iter().enumerate() {
            let m = index as u8;
            let next = master.applied.len();
            match &master.role {
                Role::Standby => {
                    if state.term < self.terms {
                        actions.push(Action::Elect(m));
                    }
                    actions.push(if master.read.is_some() {
                        Action::Apply(m)
                    } else {
                        Action::Read(m)
                    });
                }
                Role::TakingOver { caught_up, .. } => {
                    actions.push(if master.read.is_some() {
                        Action::Apply(m)
                    } else {
                        Action::Read(m)
                    });
                    if *caught_up && master.read.is_none() && next < self.slots {
                        actions.push(Action::LandMarker(m));
                    }
                }
                Role::Leader { term, write } => {
                    match write {
                        Write::Idle if next < self.slots && state.values_put < self.values => {
                            actions.push(Action::Put(m))
                        }
                        Write::Idle => {}
                        Write::Waiting { .. } => actions.push(Action::GiveUp(m)),
                        Write::Answered { .. } => actions.push(Action::Confirm(m)),
                    }
                    if !Self::lease_valid(state, index, *term) {
                        actions.push(Action::Notice(m));
                    }
                    actions.push(Action::Truncate(m));
                }
            }
            let checkpoints = matches!(master.role, Role::Standby | Role::Leader { .. });
            if checkpoints && state.checkpoints_written < self.checkpoints && next > 0 {
                actions.push(Action::Checkpoint(m));
            }
        }
        for n in 0..state.in_flight.len() {
            actions.push(Action::Land(n));
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut state = last.clone();
        match action {
            Action::Elect(m) => {
                state.term += 1;
                state.holder = Some(m);
                let role = Role::TakingOver { term: state.term, caught_up: false };
                state.masters[m as usize].role = role;
            }
            Action::Read(m) => {
                let m = m as usize;
                let next = state.masters[m].applied.len();
                state.masters[m].read = Some(state.log.get(next).copied().flatten());
            }
            Action::Apply(m) => {
                let m = m as usize;
                let found = state.masters[m].read.take().flatten();
                let slot = state.masters[m].applied.len();
                let covered =
                    Self::newest_checkpoint(&state).is_some_and(|c| c.slot as usize > slot);
                let applied = match found {
                    Some(_) if self.rules.list_after_read && covered => false,
                    Some(batch) if self.follows(&state.masters[m].applied, &batch) => {
                        state.masters[m].applied.push(batch);
                        true
                    }
                    _ => false,
                };
                // Gone, refused or covered: the newest checkpoint, if it is ahead.
                let moved = applied || Self::load_checkpoint_if_ahead(&mut state, m);
                if let Role::TakingOver { term, .. } = state.masters[m].role {
                    state.masters[m].role = Role::TakingOver { term, caught_up: !moved };
                }
            }
            Action::LandMarker(m) => {
                let m = m as usize;
                let Role::TakingOver { term, .. } = state.masters[m].role else { return None };
                if !Self::lease_valid(&state, m, term) {
                    state.masters[m].role = Role::Standby; // Deposed before writing.
                    return Some(state);
                }
                let slot = state.masters[m].applied.len();
                state.masters[m].role = Role::TakingOver { term, caught_up: false };
                if let Some(theirs) = state.log[slot] {
                    // Taken: replay what is there, as if read, then catch up again.
                    state.masters[m].read = Some(Some(theirs));
                    return Some(state);
                }
                let marker = Batch { term, entry: Entry::Leader };
                state.log[slot] = Some(marker);
                if self.live(&state, slot) {
                    state.masters[m].applied.push(marker);
                    state.masters[m].role = Role::Leader { term, write: Write::Idle };
                } else if self.rules.rebuild_on_demotion {
                    // The marker sits in a re-opened slot: never replay it; start again.
                    state.masters[m].applied = Self::fresh_replica(&state);
                }
            }
            Action::Put(m) => {
                let m = m as usize;
                let Role::Leader { term, .. } = state.masters[m].role else { return None };
                let slot = state.masters[m].applied.len() as u8;
                let batch = Batch { term, entry: Entry::Value(state.values_put) };
                state.values_put += 1;
                state.in_flight.push((slot, batch, m as u8));
                state.in_flight.sort();
                state.masters[m].role =
                    Role::Leader { term, write: Write::Waiting { slot, batch } };
            }
            Action::Land(n) => {
                let (slot, batch, m) = state.in_flight.remove(n);
                if state.log[slot as usize].is_none() {
                    state.log[slot as usize] = Some(batch);
                }
                let master = &mut state.masters[m as usize];
                if let Role::Leader { term, write: Write::Waiting { slot: s, batch: b } } =
                    master.role
                {
                    if (s, b) == (slot, batch) {
                        master.role = Role::Leader { term, write: Write::Answered { slot, batch } };
                    }
                }
            }
            Action::GiveUp(m) => self.demote(&mut state, m as usize),
            Action::Confirm(m) => {
                let m = m as usize;
                let Role::Leader { term, write: Write::Answered { slot, batch } } =
                    state.masters[m].role
                else {
                    return None;
                };
                // Read back: someone else's batch means deposed.
                if state.log[slot as usize] != Some(batch) || !self.live(&state, slot as usize) {
                    self.demote(&mut state, m);
                    return Some(state);
                }
                // Durable whatever happens next: the leader applies it, then answers only
                // while its lease holds.
                state.masters[m].applied.push(batch);
                let valid = Self::lease_valid(&state, m, term);
                if valid || !self.rules.lease_check_after_put {
                    state.acked.push((slot, batch));
                    state.acked_while_deposed |= !valid;
                    state.masters[m].role = Role::Leader { term, write: Write::Idle };
                } else {
                    self.demote(&mut state, m);
                }
            }
            Action::Notice(m) => self.demote(&mut state, m as usize),
            Action::Checkpoint(m) => {
                let image = state.masters[m as usize].applied.clone();
                let slot = image.len() as u8;
                if state.checkpoints.iter().any(|c| c.slot == slot) {
                    return None; // put_if_absent lost: a checkpoint is there.
                }
                state.checkpoints.push(Checkpoint { slot, image });
                state.checkpoints.sort();
                state.checkpoints_written += 1;
            }
            Action::Truncate(_) => {
                let [.., keep_from, _newest] = state.checkpoints.as_slice() else {
                    return None;
                };
                let keep_from = keep_from.slot as usize;
                if let Some(slot) = (0..keep_from).find(|&s| state.log[s].is_some()) {
                    state.log[slot] = None;
                } else if state.checkpoints[0].slot as usize != keep_from {
                    state.checkpoints.remove(0);
                } else {
                    return None;
                }
            }
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no acknowledged entry is missing from the history", |model, s| {
                acknowledged_entries_kept(model, s)
            }),
            Property::always(
                "no two replicas apply different batches at one slot",
                |_, s: &State| replicas_agree(s),
            ),
            Property::always("a deposed leader never acknowledges", |_, s: &State| {
                !s.acked_while_deposed
            }),
            Property::sometimes("a write is acknowledged after a failover", |_, s: &State| {
                s.acked.iter().any(|(_, b)| b.term >= 2)
            }),
        ]
    }
}

/// Every acknowledged batch is in every replica and checkpoint that covers its slot, and a
/// master that starts now (newest checkpoint, then the log) recovers all of them. A log object
/// at an acknowledged slot may differ: truncation deleted the slot and a deposed writer put a
/// stale batch there, which is no part of the history.
fn acknowledged_entries_kept(model: &SlotProtocol, state: &State) -> bool {
    let recovered = model.recover(state);
    state.acked.iter().all(|&(slot, batch)| {
        let slot = slot as usize;
        let mut images = state
            .masters
            .iter()
            .map(|m| &m.applied)
            .chain(state.checkpoints.iter().map(|c| &c.image));
        recovered.get(slot) == Some(&batch)
            && images.all(|image| image.get(slot).is_none_or(|b| *b == batch))
    })
}

/// No two replicas or checkpoints hold different batches at one slot.
fn replicas_agree(state: &State) -> bool {
    let images: Vec<&Vec<Batch>> = state
        .masters
        .iter()
        .map(|m| &m.applied)
        .chain(state.checkpoints.iter().map(|c| &c.image))
        .collect();
    images
        .iter()
        .enumerate()
        .all(|(i, a)| images[i + 1..].iter().all(|b| a.iter().zip(b.iter()).all(|(x, y)| x == y)))
}
