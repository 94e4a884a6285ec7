//! Row-parallel loops: split buffers of token rows into contiguous row ranges, one per pool
//! task, and hand each task its own sub-slices. The splitting is the only `unsafe` part and
//! lives here, so callers (the forward pass) parallelize per-token work with safe code.
//!
//! ```
//! use kernels::{par_rows, Rows, RowsMut, ThreadPool};
//! let pool = ThreadPool::new(2);
//! let x = vec![1.0f32; 8 * 4]; // [8, 4]
//! let mut y = vec![0.0f32; 8 * 4]; // [8, 4]
//! par_rows(&pool, 8, 1, (Rows::new(&x, 4), RowsMut::new(&mut y, 4)), |rows, (x, y)| {
//!     assert_eq!(x.len(), rows.len() * 4);
//!     y.iter_mut().zip(x).for_each(|(y, x)| *y = 2.0 * x);
//! });
//! assert!(y.iter().all(|&v| v == 2.0));
//! ```

use crate::pool::ThreadPool;
use std::marker::PhantomData;
use std::ops::Range;

/// A shared buffer viewed as rows of `width` elements.
pub struct Rows<'a, T> {
    data: &'a [T],
    width: usize,
}

impl<'a, T> Rows<'a, T> {
    /// `data` holds `data.len() / width` whole rows (a partial last row is never handed out).
    pub fn new(data: &'a [T], width: usize) -> Self {
        assert!(width > 0, "Rows: width must be positive");
        Rows { data, width }
    }
}

/// An exclusive buffer viewed as rows of `width` elements; tasks get disjoint row ranges.
pub struct RowsMut<'a, T> {
    ptr: *mut T,
    len: usize,
    width: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

impl<'a, T> RowsMut<'a, T> {
    /// `data` holds `data.len() / width` whole rows (a partial last row is never handed out).
    pub fn new(data: &'a mut [T], width: usize) -> Self {
        assert!(width > 0, "RowsMut: width must be positive");
        RowsMut {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            width,
            _borrow: PhantomData,
        }
    }
}

// SAFETY: a RowsMut is an exclusive borrow of [T] (sendable if T is); tasks only ever get
// disjoint row ranges of it (see `par_rows`), so sharing the view across threads hands each
// thread distinct elements.
unsafe impl<T: Send> Sync for RowsMut<'_, T> {}

/// Buffers that can be split by row range: [`Rows`], [`RowsMut`] and tuples of them. A part
/// borrows the underlying buffer for its whole lifetime `'a`, like `split_at_mut`.
///
/// # Safety
/// `part` may be called concurrently for *disjoint* ranges within `0..n_rows()`; the parts it
/// returns for disjoint ranges must not alias.
pub unsafe trait SplitRows<'a>: Sync {
    type Part;
    /// Whole rows held.
    fn n_rows(&self) -> usize;
    /// The elements of rows `r`.
    ///
    /// # Safety
    /// `r` lies within `0..n_rows()` and is never passed again while the part for an
    /// overlapping range lives (each row range is handed out once).
    unsafe fn part(&self, r: Range<usize>) -> Self::Part;
}

// SAFETY: shared rows: any number of parts may alias.
unsafe impl<'a, T: Sync> SplitRows<'a> for Rows<'a, T> {
    type Part = &'a [T];
    fn n_rows(&self) -> usize {
        self.data.len() / self.width
    }
    unsafe fn part(&self, r: Range<usize>) -> &'a [T] {
        &self.data[r.start * self.width..r.end * self.width]
    }
}

// SAFETY: parts for disjoint row ranges are disjoint element ranges of the borrowed slice.
unsafe impl<'a, T: Send> SplitRows<'a> for RowsMut<'a, T> {
    type Part = &'a mut [T];
    fn n_rows(&self) -> usize {
        self.len / self.width
    }
    unsafe fn part(&self, r: Range<usize>) -> &'a mut [T] {
        assert!(
            r.start <= r.end && r.end <= self.n_rows(),
            "RowsMut: rows out of range"
        );
        // SAFETY: r is within the slice borrowed for 'a (asserted), and per the caller's
        // contract no other part covers these rows, so this is the only reference to them.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.add(r.start * self.width),
                (r.end - r.start) * self.width,
            )
        }
    }
}

macro_rules! split_tuple {
    ($($t:ident $i:tt),+) => {
        // SAFETY: each member upholds the contract; a tuple's part is the members' parts.
        unsafe impl<'a, $($t: SplitRows<'a>),+> SplitRows<'a> for ($($t,)+) {
            type Part = ($($t::Part,)+);
            fn n_rows(&self) -> usize {
                [$(self.$i.n_rows()),+].into_iter().min().unwrap_or(0)
            }
            unsafe fn part(&self, r: Range<usize>) -> Self::Part {
                // SAFETY: per the caller's contract, forwarded to every member.
                unsafe { ($(self.$i.part(r.clone()),)+) }
            }
        }
    };
}
split_tuple!(A 0, B 1);
split_tuple!(A 0, B 1, C 2);
split_tuple!(A 0, B 1, C 2, D 3);
split_tuple!(A 0, B 1, C 2, D 3, E 4);

/// Runs `f(rows, parts)` over rows `0..n_rows` of `bufs`, in contiguous ranges of at least
/// `min_rows` rows (fewer tasks than threads when there is little work; one task runs inline).
/// Every buffer must hold at least `n_rows` rows.
pub fn par_rows<'a, S: SplitRows<'a>>(
    pool: &ThreadPool,
    n_rows: usize,
    min_rows: usize,
    bufs: S,
    f: impl Fn(Range<usize>, S::Part) + Sync,
) {
    assert!(
        bufs.n_rows() >= n_rows,
        "par_rows: a buffer holds {} rows, {n_rows} needed",
        bufs.n_rows()
    );
    if n_rows == 0 {
        return;
    }
    let n_tasks = (n_rows / min_rows.max(1)).clamp(1, pool.n_threads());
    let range = |i: usize| i * n_rows / n_tasks..(i + 1) * n_rows / n_tasks;
    pool.run(n_tasks, &|i| {
        let r = range(i);
        // SAFETY: task i, run once, gets rows range(i): the ranges of distinct tasks are
        // disjoint and lie within 0..n_rows <= bufs.n_rows() (asserted).
        let part = unsafe { bufs.part(r.clone()) };
        f(r, part);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_for_any_split() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            for n in [0, 1, 2, 5, 17, 64] {
                for min_rows in [1, 4, 100] {
                    let src: Vec<u32> = (0..n as u32 * 3).collect();
                    let mut dst = vec![0u32; n * 3];
                    let mut seen = vec![0u8; n];
                    par_rows(
                        &pool,
                        n,
                        min_rows,
                        (
                            Rows::new(&src, 3),
                            RowsMut::new(&mut dst, 3),
                            RowsMut::new(&mut seen, 1),
                        ),
                        |r, (s, d, seen)| {
                            assert_eq!(s.len(), r.len() * 3);
                            d.iter_mut().zip(s).for_each(|(d, s)| *d = s + 1);
                            seen.iter_mut().for_each(|c| *c += 1);
                        },
                    );
                    assert!(seen.iter().all(|&c| c == 1), "n {n} threads {threads}");
                    assert!(dst.iter().enumerate().all(|(i, &v)| v == i as u32 + 1));
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "par_rows: a buffer holds 2 rows, 3 needed")]
    fn too_few_rows_is_caught() {
        let pool = ThreadPool::new(1);
        let mut a = vec![0f32; 8];
        par_rows(&pool, 3, 1, RowsMut::new(&mut a, 4), |_, _| {});
    }
}
