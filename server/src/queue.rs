//! Admission of uploads to verification: a bounded queue, fair per token and per browser.
//!
//! An upload holds a [`Ticket`] from the moment it is admitted (before its body is read) until its
//! answer is stored: while it streams to scratch storage, waits for a verification slot and is
//! verified. The number of tickets is bounded, so scratch storage (8 MB each at most) and the wait
//! behind the queue are bounded; one token may hold one ticket and one browser
//! [`MAX_TICKETS_PER_BROWSER`], so forty uploads from one client cannot fill the queue ahead of
//! everyone else. An upload that is not admitted is answered at once, before its body is read, with
//! 503 and `Retry-After` (the page waits and sends it again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A person has one verification page open: one upload of theirs at a time. Two pages of one
/// browser (a second tab, a retry racing a slow first upload) may each have one.
pub const MAX_TICKETS_PER_TOKEN: usize = 1;
pub const MAX_TICKETS_PER_BROWSER: usize = 2;

/// Why an upload was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAdmitted {
    #[error("the verification queue is full")]
    Full,
    #[error("this token already has an upload in the queue")]
    TokenBusy,
    #[error("this browser already has uploads in the queue")]
    BrowserBusy,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_token: HashMap<String, usize>,
    by_browser: HashMap<String, usize>,
}

/// The queue of uploads being received, waiting or verified.
#[derive(Debug)]
pub struct VerifyQueue {
    capacity: usize,
    held: Arc<Mutex<Held>>,
}

/// A place in the queue; given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    token: String,
    browser: String,
    held: Arc<Mutex<Held>>,
}

impl VerifyQueue {
    pub fn new(capacity: usize) -> VerifyQueue {
        VerifyQueue {
            capacity: capacity.max(1),
            held: Arc::default(),
        }
    }

    /// Admits an upload of `token` from `browser`, or says why not.
    pub fn admit(&self, token: &str, browser: &str) -> Result<Ticket, NotAdmitted> {
        // A poisoned lock only means another thread panicked while counting; the counts are
        // still whole numbers, so go on with them.
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.by_token.get(token).copied().unwrap_or(0) >= MAX_TICKETS_PER_TOKEN {
            return Err(NotAdmitted::TokenBusy);
        }
        if held.by_browser.get(browser).copied().unwrap_or(0) >= MAX_TICKETS_PER_BROWSER {
            return Err(NotAdmitted::BrowserBusy);
        }
        if held.total >= self.capacity {
            return Err(NotAdmitted::Full);
        }
        held.total += 1;
        *held.by_token.entry(token.to_string()).or_default() += 1;
        *held.by_browser.entry(browser.to_string()).or_default() += 1;
        Ok(Ticket {
            token: token.to_string(),
            browser: browser.to_string(),
            held: self.held.clone(),
        })
    }

    /// Tickets held right now.
    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn give_back(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total = held.total.saturating_sub(1);
        give_back(&mut held.by_token, &self.token);
        give_back(&mut held.by_browser, &self.browser);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_fair() {
        let q = VerifyQueue::new(3);
        let a = q.admit("T1", "B1").unwrap();
        assert_eq!(q.admit("T1", "B2").unwrap_err(), NotAdmitted::TokenBusy);
        let b = q.admit("T2", "B1").unwrap();
        assert_eq!(q.admit("T3", "B1").unwrap_err(), NotAdmitted::BrowserBusy);
        let c = q.admit("T3", "B2").unwrap();
        assert_eq!(q.admit("T4", "B3").unwrap_err(), NotAdmitted::Full);
        assert_eq!(q.len(), 3);
        drop(a);
        let d = q.admit("T1", "B3").unwrap();
        drop((b, c, d));
        assert!(q.is_empty());
        assert!(q.held.lock().unwrap().by_token.is_empty());
    }
}
