//! The free-block queue: an LRU order over block ids with O(1) removal of any
//! block, so a cached free block can be taken back when a prefix hits it.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    linked: bool,
}

/// Doubly linked list over the block ids `0..n`, stored as two index arrays.
/// The front is the least recently freed block (evicted first).
#[derive(Debug)]
pub(super) struct FreeList {
    links: Vec<Link>,
    head: u32,
    tail: u32,
    len: usize,
}

impl FreeList {
    /// A list holding every block, in id order.
    pub(super) fn full(n: u32) -> Self {
        let mut list = Self {
            links: vec![
                Link {
                    prev: NIL,
                    next: NIL,
                    linked: false,
                };
                n as usize
            ],
            head: NIL,
            tail: NIL,
            len: 0,
        };
        for block in 0..n {
            list.push_back(block);
        }
        list
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn contains(&self, block: u32) -> bool {
        self.links[block as usize].linked
    }

    /// Appends a block as the most recently freed one.
    pub(super) fn push_back(&mut self, block: u32) {
        debug_assert!(!self.contains(block));
        self.links[block as usize] = Link {
            prev: self.tail,
            next: NIL,
            linked: true,
        };
        match self.tail {
            NIL => self.head = block,
            tail => self.links[tail as usize].next = block,
        }
        self.tail = block;
        self.len += 1;
    }

    /// Removes and returns the least recently freed block.
    pub(super) fn pop_front(&mut self) -> Option<u32> {
        let head = self.head;
        (head != NIL).then(|| {
            self.remove(head);
            head
        })
    }

    /// Unlinks a block that is in the list.
    pub(super) fn remove(&mut self, block: u32) {
        debug_assert!(self.contains(block));
        let Link { prev, next, .. } = self.links[block as usize];
        match prev {
            NIL => self.head = next,
            prev => self.links[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.links[next as usize].prev = prev,
        }
        self.links[block as usize] = Link {
            prev: NIL,
            next: NIL,
            linked: false,
        };
        self.len -= 1;
    }

    /// Blocks from least to most recently freed.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors((self.head != NIL).then_some(self.head), |&b| {
            let next = self.links[b as usize].next;
            (next != NIL).then_some(next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lru_order_through_removals() {
        let mut list = FreeList::full(5);
        assert_eq!(list.pop_front(), Some(0));
        list.remove(2);
        list.push_back(0);
        list.push_back(2);
        assert_eq!(list.iter().collect::<Vec<_>>(), [1, 3, 4, 0, 2]);
        list.remove(2);
        list.remove(1);
        assert_eq!(list.iter().collect::<Vec<_>>(), [3, 4, 0]);
        assert_eq!(list.len(), 3);
        while list.pop_front().is_some() {}
        assert_eq!(list.len(), 0);
        assert_eq!(list.iter().count(), 0);
    }
}
