//! Temporary stand-in for the keyspace hash table (replaced by `dict.rs`).
use std::collections::HashMap;

pub type Key = Box<[u8]>;

#[derive(Debug, Default)]
pub struct Dict<V> {
    map: HashMap<Key, V>,
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict { map: HashMap::new() }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn get(&self, k: &[u8]) -> Option<&V> {
        self.map.get(k)
    }
    pub fn get_mut(&mut self, k: &[u8]) -> Option<&mut V> {
        self.map.get_mut(k)
    }
    pub fn insert(&mut self, k: Key, v: V) -> Option<V> {
        self.map.insert(k, v)
    }
    pub fn remove(&mut self, k: &[u8]) -> Option<(Key, V)> {
        self.map.remove_entry(k)
    }
    pub fn clear(&mut self) {
        self.map.clear()
    }
    pub fn take(&mut self) -> Dict<V> {
        Dict { map: std::mem::take(&mut self.map) }
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.map.iter()
    }
    pub fn contains_key(&self, k: &[u8]) -> bool {
        self.map.contains_key(k)
    }
}
