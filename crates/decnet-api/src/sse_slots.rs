//! Per-user stream slots: at most N concurrent SSE streams per user, the
//! slot taken before the 200 is sent and given back when the stream ends.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

use crate::error::ApiError;

/// Per-user concurrent stream counter.
pub struct SseSlots {
    max: usize,
    open: Mutex<HashMap<Uuid, usize>>,
}

/// A held stream slot; released on drop (client gone, stream ended).
pub struct SlotGuard {
    slots: Arc<SseSlots>,
    user: Uuid,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock();
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl SseSlots {
    /// At most `max` streams per user.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(SseSlots {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot or fails with 429 (before any 200 is sent).
    pub fn acquire(self: &Arc<Self>, user: Uuid) -> Result<SlotGuard, ApiError> {
        let mut open = self.open.lock();
        let n = open.entry(user).or_insert(0);
        if *n >= self.max {
            return Err(ApiError::TooManyRequests {
                detail: format!("too many open streams for this user (max {})", self.max),
                retry_after: 5,
            });
        }
        *n += 1;
        Ok(SlotGuard {
            slots: self.clone(),
            user,
        })
    }

    /// Open streams, all users.
    pub fn open_total(&self) -> usize {
        self.open.lock().values().sum()
    }
}
