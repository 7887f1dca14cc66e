//! In-process queue with SQS's semantics: visibility deadlines, receive
//! counts, and a dead-letter queue filled when a message would be received
//! for the (max_receives + 1)th time.

use super::{Delivery, Message, Queue, Result};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct MemoryQueue {
    state: Mutex<State>,
    visibility_timeout: Duration,
    max_receives: Option<u32>,
    dead_letters: Option<Arc<MemoryQueue>>,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    next_receipt: u64,
}

struct Entry {
    message: Message,
    receive_count: u32,
    visible_at: Instant,
    /// The latest delivery's receipt; an older one can no longer ack.
    receipt: u64,
}

/// How often a waiting `receive` looks again; small against the seconds-long
/// visibility timeouts it serves.
const POLL: Duration = Duration::from_millis(20);

impl MemoryQueue {
    /// A queue with its own dead-letter queue after `max_receives` receives.
    pub fn new(visibility_timeout: Duration, max_receives: u32) -> Self {
        let dead_letters = Arc::new(MemoryQueue::without_dead_letters(visibility_timeout));
        MemoryQueue {
            max_receives: Some(max_receives),
            dead_letters: Some(dead_letters),
            ..MemoryQueue::without_dead_letters(visibility_timeout)
        }
    }

    /// A queue that redelivers forever; used for the dead-letter queue itself.
    pub fn without_dead_letters(visibility_timeout: Duration) -> Self {
        MemoryQueue {
            state: Mutex::new(State::default()),
            visibility_timeout,
            max_receives: None,
            dead_letters: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, message: Message, delay: Duration) {
        // Receipt 0 is never handed out, so nothing can ack an unreceived entry.
        self.lock().entries.push_back(Entry {
            message,
            receive_count: 0,
            visible_at: Instant::now() + delay.min(super::MAX_DELAY),
            receipt: 0,
        });
    }

    fn take_visible(&self, max: usize) -> Vec<Delivery> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut exhausted = Vec::new();
        let mut deliveries = Vec::new();
        let mut index = 0;
        while index < state.entries.len() && deliveries.len() < max {
            if state.entries[index].visible_at > now {
                index += 1;
                continue;
            }
            if self
                .max_receives
                .is_some_and(|max| state.entries[index].receive_count >= max)
            {
                exhausted.extend(state.entries.remove(index));
                continue;
            }
            state.next_receipt += 1;
            let receipt = state.next_receipt;
            let entry = &mut state.entries[index];
            entry.receive_count += 1;
            entry.visible_at = now + self.visibility_timeout;
            entry.receipt = receipt;
            deliveries.push(Delivery::new(
                entry.message.clone(),
                entry.receive_count,
                receipt.to_string(),
            ));
            index += 1;
        }
        drop(state);
        if let Some(dead_letters) = &self.dead_letters {
            exhausted
                .into_iter()
                .for_each(|entry| dead_letters.push(entry.message, Duration::ZERO));
        }
        deliveries
    }

    /// Applies `change` to the entry this delivery refers to, if the
    /// delivery is still the latest one for it.
    fn with_current(&self, delivery: &Delivery, change: impl FnOnce(&mut VecDeque<Entry>, usize)) {
        let Ok(receipt) = delivery.receipt().parse::<u64>() else {
            return;
        };
        let mut state = self.lock();
        let position = state
            .entries
            .iter()
            .position(|entry| entry.receipt == receipt);
        if let Some(index) = position {
            change(&mut state.entries, index);
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, message: &Message) -> Result<()> {
        self.push(message.clone(), Duration::ZERO);
        Ok(())
    }

    async fn send_after(&self, message: &Message, delay: Duration) -> Result<()> {
        self.push(message.clone(), delay);
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + wait;
        loop {
            let deliveries = self.take_visible(max.max(1));
            let now = Instant::now();
            if !deliveries.is_empty() || now >= deadline {
                return Ok(deliveries);
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        self.with_current(delivery, |entries, index| {
            entries.remove(index);
        });
        Ok(())
    }

    async fn nack(&self, delivery: &Delivery) -> Result<()> {
        self.with_current(delivery, |entries, index| {
            entries[index].visible_at = Instant::now()
        });
        Ok(())
    }

    fn dead_letters(&self) -> Option<Arc<dyn Queue>> {
        self.dead_letters
            .clone()
            .map(|queue| queue as Arc<dyn Queue>)
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
