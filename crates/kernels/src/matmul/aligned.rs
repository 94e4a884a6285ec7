//! 64-byte aligned, zero-initialised buffers for packed weights.

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A heap buffer of `len` bytes starting on a cache-line boundary.
pub(crate) struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes. Allocated zeroed (no memset: fresh pages from the OS are zero, and
    /// they are faulted in by whichever thread first writes them, e.g. the packing tasks).
    pub(crate) fn zeroed(len: usize) -> Self {
        let n = len.div_ceil(64);
        if n == 0 {
            return AlignedBytes {
                lines: Vec::new(),
                len,
            };
        }
        let layout = std::alloc::Layout::array::<Line>(n).expect("buffer size overflows");
        // SAFETY: `layout` has a non-zero size (n > 0).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Line>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` was allocated by the global allocator with the layout of [Line; n]
        // (Vec's own layout for capacity n), and all n elements are initialised (zero bytes
        // are a valid Line).
        let lines = unsafe { Vec::from_raw_parts(ptr, n, n) };
        AlignedBytes { lines, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: `lines` holds at least `len` initialised bytes (Line is plain bytes, repr(C)).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<u8>(), self.len) }
    }

    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// View as f32 (`len` must be a multiple of 4).
    pub(crate) fn as_f32(&self) -> &[f32] {
        debug_assert_eq!(self.len % 4, 0);
        // SAFETY: 64-byte alignment satisfies f32's; every bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len / 4) }
    }

    pub(crate) fn as_f32_mut(&mut self) -> &mut [f32] {
        debug_assert_eq!(self.len % 4, 0);
        // SAFETY: as above, and we hold the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len / 4)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
