//! A node's sends and timers, carried out as its handler makes them (see `Cx`'s outbox).
//!
//! A dispatch lends the node its own record's link clocks and timers, and the rest of the
//! process table only as [`Peers`]: every record but the dispatched one's, read-only, for the
//! prefetch hints a send gives its receiver. The same code carries out an effect that waited
//! in the list (`Sim::apply_effect`), so there is one way to send and one to arm a timer.

use std::collections::VecDeque;
use std::marker::PhantomData;

use super::queue::EventQueue;
use super::{node_hint_in, AddrIndex, Event, HostPorts, LinkClock, Proc, TickTimer, Timers, NO_SLOT};
use crate::fault::{NetFaults, Verdict};
use crate::msg::Msg;
use crate::node::{Addr, TimerId};
use crate::sim::NetModel;
use crate::time::Time;
use crate::trace::Trace;
use crate::{prefetch, Rng};

/// The process table seen from a dispatch: every record but the one being dispatched, whose
/// node is borrowed mutably meanwhile (so a send to itself gets no hint: hints only load
/// lines, and that node's are in use).
#[derive(Clone, Copy)]
pub(super) struct Peers<'a> {
    base: *const Option<Proc>,
    len: usize,
    skip: usize,
    _table: PhantomData<&'a [Option<Proc>]>,
}

impl<'a> Peers<'a> {
    /// Every record.
    pub(super) fn all(procs: &'a [Option<Proc>]) -> Peers<'a> {
        Peers { base: procs.as_ptr(), len: procs.len(), skip: usize::MAX, _table: PhantomData }
    }
    /// Every record of the `len` at `base` but `skip`'s.
    ///
    /// # Safety
    /// `base..base + len` must stay a live table of records for `'a`, and nothing may write to
    /// any record but `skip`'s meanwhile.
    pub(super) unsafe fn except(base: *const Option<Proc>, len: usize, skip: usize) -> Peers<'a> {
        Peers { base, len, skip, _table: PhantomData }
    }
    #[inline(always)]
    pub(super) fn get(&self, slot: usize) -> Option<&'a Option<Proc>> {
        if slot >= self.len || slot == self.skip {
            return None;
        }
        // SAFETY: in bounds, not the excluded record, and (by `except`'s contract) alive and
        // not written for 'a.
        Some(unsafe { &*self.base.add(slot) })
    }
}

/// What a process's sends and timers change in its own record: one borrow for its outbox.
#[derive(Default)]
pub(super) struct Outgoing {
    pub links: LinkClock,
    pub timers: Timers,
    pub timer_gen: u64,
}

/// The parts of the sim that sends and timers touch, besides the process table: one borrow
/// for an outbox to hold (it is built for every dispatch, a field at a time).
pub(super) struct Wire {
    pub queue: EventQueue<Event>,
    /// The sequence number of the last event queued.
    pub seq: u64,
    pub by_addr: AddrIndex,
    pub net_rng: Rng,
    pub faults: NetFaults,
    pub trace: Trace,
    /// Tick timers by the whole millisecond they are due at (in microseconds), each list in
    /// arming order; one `Event::Tick` per list. See [`crate::node::Cx::set_tick_timer`].
    /// Ascending by time. Nearly every arming is for the latest tick (now plus an interval)
    /// and every firing takes the earliest, so both ends of a deque, where a B-tree searched
    /// from the root on each.
    pub ticks: VecDeque<(u64, Vec<TickTimer>)>,
    /// Emptied tick lists, kept for their buffers.
    pub tick_spare: Vec<Vec<TickTimer>>,
    /// [`crate::node::Node::takes_prefetch_hints`] by slot, asked when the process is created: kept here,
    /// not in its record, which is two cache lines to the byte.
    pub hints: Vec<bool>,
}

/// The sim's outbox for one process: the parts of the sim its sends and timers touch.
pub(crate) struct SimOutbox<'a> {
    pub(super) now: Time,
    pub(super) addr: Addr,
    /// `None` once the process has gone (an effect that waited behind its exit): its sends
    /// still go, on no link clock, and its timers are not armed.
    pub(super) own: Option<&'a mut Outgoing>,
    /// Every record but the process's own, whose slot it names.
    pub(super) peers: Peers<'a>,
    pub(super) wire: &'a mut Wire,
    pub(super) net: &'a NetModel,
}

impl Wire {
    /// Queues `ev` at `at` with the next sequence number.
    pub(super) fn schedule(&mut self, at: Time, ev: Event) {
        self.seq += 1;
        self.queue.push(at.as_micros(), self.seq, ev);
    }
}

impl SimOutbox<'_> {
    /// The process's slot: the record its peers leave out (one word fewer to build).
    #[inline(always)]
    fn slot(&self) -> usize {
        self.peers.skip
    }

    /// At a send to a node that takes prefetch hints (one whose tables outgrow the caches, as
    /// a ResourceManager's at 10,000 nodes): its first hint now, and what its answer will
    /// touch on the way back (the sender's address entry, the receiver's link clock to it).
    /// The message arrives 200 us or more later, a few dozen events, in which these lines stay
    /// cached; most such messages land a few events ahead in the bucket being drained, where
    /// `Sim::prefetch_ahead`'s far steps never see them.
    fn prefetch_for_reply(&self, ev: &Event) {
        let Event::Deliver { from, hint, sender, msg, .. } = ev else { return };
        let Some(p) = super::hinted_in(self.peers, &self.wire.hints, *hint) else { return };
        if let Some(node) = &p.node {
            node.prefetch_message(msg, 0);
        }
        if let Some(t) = p.outgoing.links.many.as_deref().and_then(|many| many.get(*sender as usize)) {
            prefetch(t as *const Time as *const u8);
        }
        if let Some(h) = self.wire.by_addr.hosts.get(AddrIndex::host(from.ip())) {
            prefetch(h as *const HostPorts as *const u8);
        }
    }

    /// Records timer `id` as armed by a new generation (replacing any armed one) and returns
    /// it; `None` if the process is gone.
    #[inline(always)]
    fn arm(&mut self, id: TimerId) -> Option<u64> {
        let own = self.own.as_mut()?;
        own.timer_gen += 1;
        own.timers.insert(id, own.timer_gen);
        Some(own.timer_gen)
    }

    /// Puts a message on the wire: faults first, then latency, then FIFO order on its link.
    pub(crate) fn send(&mut self, to: Addr, msg: Msg) {
        let (from, now) = (self.addr, self.now);
        let mut extra = 0;
        if !self.wire.faults.is_empty() {
            match self.wire.faults.on_send(&mut self.wire.net_rng, from, to, msg.family(), msg.kind(), msg.is_stream()) {
                // Its connection keeps it: on arrival it waits for the link to heal.
                Verdict::Wait => {}
                Verdict::Lost { .. } => return self.wire.trace.message(now, b'l', from, to, &msg),
                Verdict::Pass { extra: e } => extra = crate::time::micros(e),
            }
        }
        let Some(d) = self.net.delay_micros(&mut self.wire.net_rng, *from.ip(), *to.ip()) else {
            return self.wire.trace.message(now, b'l', from, to, &msg);
        };
        let mut at = Time(now.as_micros().saturating_add(d).saturating_add(extra));
        let dest = self.wire.by_addr.get(&to);
        if !self.net.reorder {
            // A message to no one (yet) needs no order: it will find no process.
            if let (Some(dest), Some(own)) = (dest, self.own.as_mut()) {
                at = own.links.arrival(dest, at);
            }
        }
        let hint = dest.map_or(NO_SLOT, |d| d as u32);
        let ev = Event::Deliver { from, to, hint, sender: self.slot() as u32, msg, late: false };
        self.prefetch_for_reply(&ev);
        // Where it landed decides which of `prefetch_ahead`'s steps will see it. The queue
        // pops the front before each lookahead, so a delivery with `before` events ahead of
        // it now comes to `ahead.get(before - 2)` next, and one step nearer per event after.
        // (`schedule` by hand: the queue alone is borrowed for the entry it returns.)
        self.wire.seq += 1;
        let Some((before, ev)) = self.wire.queue.push_near(at.as_micros(), self.wire.seq, ev) else { return };
        match before {
            // The middle step will see it.
            b if b >= super::Sim::MID + 2 => {}
            // It will not: the near step gives the second hint.
            b if b >= super::Sim::NEAR + 2 => {
                if let Event::Deliver { late, .. } = ev {
                    *late = true;
                }
            }
            // Nearer still: the hint goes now (the index entry the first hint asked for may
            // not be in yet: one wait here, rather than two in the handler).
            _ => node_hint_in(self.peers, &self.wire.hints, ev, 1),
        }
    }

    /// Arms timer `id` for `at`; `tick`: a tick timer (`Cx::set_tick_timer`).
    pub(crate) fn set_timer(&mut self, id: TimerId, at: Time, tick: bool) {
        let Some(gen) = self.arm(id) else { return };
        let at = at.max(self.now);
        if !tick {
            return self.wire.schedule(at, Event::Timer { slot: self.slot(), id, gen });
        }
        let at = at.as_micros();
        let t = TickTimer { slot: self.slot() as u32, id, gen };
        // From the back: the latest tick, or a new one after it, nearly always.
        let mut i = self.wire.ticks.len();
        while i > 0 && self.wire.ticks[i - 1].0 > at {
            i -= 1;
        }
        if i > 0 && self.wire.ticks[i - 1].0 == at {
            self.wire.ticks[i - 1].1.push(t);
        } else {
            let mut list = self.wire.tick_spare.pop().unwrap_or_default();
            list.push(t);
            self.wire.ticks.insert(i, (at, list));
            self.wire.schedule(Time(at), Event::Tick { at });
        }
    }

    pub(crate) fn cancel_timer(&mut self, id: TimerId) {
        if let Some(own) = self.own.as_mut() {
            own.timers.remove(&id);
        }
    }
}
