//! A bounded memory of answers that are a pure function of their key (policy decisions, the
//! entities they start from): worked out once, recalled after. Used by the Cedar engine and
//! by the local IAM guard. When full it starts over, so memory stays bounded whatever the
//! keys; a poisoned lock only means another thread panicked mid-insert, and the caller then
//! works the answer out afresh.
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

#[derive(Debug)]
pub struct Remembered<K, V> {
    entries: Mutex<HashMap<K, V>>,
    bound: usize,
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    /// At most `bound` entries.
    pub fn new(bound: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            bound,
        }
    }

    /// What is held under `key`.
    pub fn recall<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// Keep `value` under `key`, within the bound.
    pub fn remember(&self, key: K, value: V) {
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= self.bound {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_what_it_kept_and_stays_within_its_bound() {
        let memory: Remembered<Vec<u8>, u32> = Remembered::new(3);
        assert!(memory.is_empty());
        memory.remember(b"a".to_vec(), 1);
        assert_eq!(memory.recall(&b"a"[..]), Some(1));
        assert_eq!(memory.recall(&b"b"[..]), None);
        memory.remember(b"a".to_vec(), 2);
        assert_eq!(
            memory.recall(&b"a"[..]),
            Some(2),
            "a key holds its latest answer"
        );
        for i in 0..10u8 {
            memory.remember(vec![i], u32::from(i));
            assert!(memory.len() <= 3);
        }
        assert_eq!(memory.recall(&[9u8][..]), Some(9));
    }
}
