//! The weighted slot table: every eligible endpoint gets a share of
//! [`MAX_SLOTS`] slots proportional to its weight (at least one), so a uniform
//! random slot is a weighted random endpoint.

use kvlb_common::pool::{MAX_SLOTS, Slots};

/// Builds the slot table for `(endpoint id, weight)` pairs. More than
/// [`MAX_SLOTS`] endpoints cannot be represented; validation rejects them
/// first, and any excess here is left out.
pub fn build(members: &[(u32, u32)]) -> Slots {
    let members = &members[..members.len().min(MAX_SLOTS)];
    let mut slots = Slots::EMPTY;
    if members.is_empty() {
        return slots;
    }
    let total: u64 = members.iter().map(|&(_, w)| u64::from(w.max(1))).sum();
    // Largest-remainder apportionment with a floor of one slot each.
    let mut shares: Vec<(usize, u64, u64)> = members
        .iter()
        .enumerate()
        .map(|(i, &(_, w))| {
            let exact = u64::from(w.max(1)) * MAX_SLOTS as u64;
            (i, (exact / total).max(1), exact % total)
        })
        .collect();
    let mut assigned: u64 = shares.iter().map(|s| s.1).sum();
    shares.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let mut next = 0;
    while assigned < MAX_SLOTS as u64 {
        let len = shares.len();
        shares[next % len].1 += 1;
        assigned += 1;
        next += 1;
    }
    // The floor of one may overshoot: take back from the largest shares.
    while assigned > MAX_SLOTS as u64 {
        let largest = shares.iter_mut().max_by_key(|s| s.1).expect("non-empty");
        largest.1 -= 1;
        assigned -= 1;
    }
    shares.sort_by_key(|s| s.0);
    next = 0;
    for &(i, n, _) in &shares {
        for _ in 0..n {
            slots.endpoint_ids[next] = members[i].0;
            next += 1;
        }
    }
    slots.count = next as u32;
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(slots: &Slots, id: u32) -> usize {
        slots.endpoint_ids[..slots.count as usize].iter().filter(|&&x| x == id).count()
    }

    #[test]
    fn splits_by_weight_and_fills_every_slot() {
        let s = build(&[(7, 2), (8, 1), (9, 1)]);
        assert_eq!(s.count as usize, MAX_SLOTS);
        assert_eq!((share(&s, 7), share(&s, 8), share(&s, 9)), (512, 256, 256));
    }

    #[test]
    fn uneven_weights_round_by_largest_remainder() {
        let s = build(&[(1, 1), (2, 1), (3, 1)]);
        let shares = [share(&s, 1), share(&s, 2), share(&s, 3)];
        assert_eq!(shares.iter().sum::<usize>(), MAX_SLOTS);
        assert!(shares.iter().all(|&n| n == 341 || n == 342), "{shares:?}");
    }

    #[test]
    fn every_endpoint_gets_a_slot_even_when_tiny() {
        let mut members: Vec<(u32, u32)> = (0..1000).map(|i| (i, 1)).collect();
        members.push((5000, 65535));
        let s = build(&members);
        assert_eq!(s.count as usize, MAX_SLOTS);
        assert!((0..1000).all(|i| share(&s, i) >= 1));
        assert_eq!(share(&s, 5000), MAX_SLOTS - 1000);
    }

    #[test]
    fn empty_pool_has_no_slots() {
        assert_eq!(build(&[]).count, 0);
    }
}
