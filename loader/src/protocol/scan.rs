//! The request scan: the base revision tag and every request between the markers.

use alloc::vec::Vec;
use core::fmt;

use super::bytes::{read_u64, words_match};
use super::*;

/// A request found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundRequest {
    /// Byte offset of the request in the scanned image (8-byte aligned).
    pub offset: usize,
    /// ID words 2 and 3.
    pub id: [u64; 2],
    /// The request's `revision` field (+32).
    pub revision: u64,
}

impl FoundRequest {
    /// The feature this request asks for, if the specification lists its ID.
    pub fn feature(&self) -> Option<Feature> {
        Feature::from_id(self.id)
    }

    /// Byte offset of the request's `response` pointer in the image.
    pub const fn response_offset(&self) -> usize {
        self.offset.saturating_add(REQUEST_RESPONSE_OFFSET)
    }

    /// Byte offset in the image of a feature field at `field` bytes into the request (see
    /// [`request_field`]). Saturates instead of overflowing; [`read_u64`] then reports `None`.
    pub const fn field_offset(&self, field: usize) -> usize {
        self.offset.saturating_add(field)
    }
}

/// The base revision tag found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// Byte offset of the tag (word 0) in the scanned image.
    pub offset: usize,
    /// Word 2 as the kernel left it: the requested base revision.
    pub requested_revision: u64,
}

/// Result of [`scan`]: what lies between the last start marker and the first end marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The base revision tag, if present. `None` means the kernel asks for revision 0.
    pub tag: Option<TagInfo>,
    /// Requests in image order (at most [`MAX_REQUESTS`], IDs unique).
    pub requests: Vec<FoundRequest>,
}

impl Scan {
    /// The request for `feature`, if the kernel made one.
    pub fn find(&self, feature: Feature) -> Option<&FoundRequest> {
        let id = feature.id();
        self.requests.iter().find(|r| r.id == id)
    }
}

/// Why [`scan`] refused the kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// Two requests with the same ID (the protocol forbids it).
    DuplicateRequest {
        /// ID words 2 and 3.
        id: [u64; 2],
        /// Offset of the first occurrence.
        first: usize,
        /// Offset of the second occurrence.
        second: usize,
    },
    /// More than [`MAX_REQUESTS`] requests.
    TooManyRequests,
    /// Two base revision tags.
    DuplicateTag {
        /// Offset of the first tag.
        first: usize,
        /// Offset of the second tag.
        second: usize,
    },
    /// A request's ID sits so close to the end of the file-backed image that its 48-byte header
    /// does not fit.
    TruncatedRequest {
        /// Offset of the request.
        offset: usize,
        /// Bytes available from the offset to the end of the file-backed image.
        available: usize,
    },
    /// A base revision tag's magic sits so close to the end of the file-backed image that its
    /// revision word does not fit.
    TruncatedTag {
        /// Offset of the tag.
        offset: usize,
        /// Bytes available from the offset to the end of the file-backed image.
        available: usize,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScanError::DuplicateRequest { id, first, second } => {
                let name = Feature::from_id(id).map_or("unknown feature", Feature::name);
                write!(
                    f,
                    "kernel has two requests with ID {:#018x} {:#018x} ({name}) at image offsets \
                     {first:#x} and {second:#x}; each request may appear only once, remove the \
                     duplicate static",
                    id[0], id[1]
                )
            }
            ScanError::TooManyRequests => write!(
                f,
                "kernel has more than {MAX_REQUESTS} requests between its markers; the loader \
                 accepts at most {MAX_REQUESTS}"
            ),
            ScanError::DuplicateTag { first, second } => write!(
                f,
                "kernel has two base revision tags (image offsets {first:#x} and {second:#x}); \
                 keep exactly one"
            ),
            ScanError::TruncatedRequest { offset, available } => write!(
                f,
                "request at image offset {offset:#x} is cut off by the end of the file-backed \
                 image (needs {REQUEST_HEADER_SIZE} bytes, {available} present); place requests \
                 in a file-backed section between the markers"
            ),
            ScanError::TruncatedTag { offset, available } => write!(
                f,
                "base revision tag at image offset {offset:#x} is cut off by the end of the \
                 file-backed image (needs {BASE_REVISION_TAG_SIZE} bytes, {available} present); \
                 place it in a file-backed section"
            ),
        }
    }
}

impl core::error::Error for ScanError {}

/// What the scan collected since the last start marker.
#[derive(Default)]
struct Window {
    scan: Scan,
    /// First protocol violation in this window. Reported only if no later start marker discards
    /// the window, because only what follows the last start marker counts.
    error: Option<ScanError>,
    /// Requests seen in this window, including those beyond the limit that were not stored.
    seen: usize,
}

impl Window {
    fn fail(&mut self, e: ScanError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn add_request(&mut self, req: FoundRequest) {
        self.seen = self.seen.saturating_add(1);
        if let Some(prev) = self.scan.requests.iter().find(|r| r.id == req.id) {
            let e = ScanError::DuplicateRequest {
                id: req.id,
                first: prev.offset,
                second: req.offset,
            };
            self.fail(e);
            return;
        }
        if self.scan.requests.len() >= MAX_REQUESTS {
            self.fail(ScanError::TooManyRequests);
            return;
        }
        self.scan.requests.push(req);
    }

    fn add_tag(&mut self, tag: TagInfo) {
        match self.scan.tag {
            Some(prev) => self.fail(ScanError::DuplicateTag {
                first: prev.offset,
                second: tag.offset,
            }),
            None => self.scan.tag = Some(tag),
        }
    }
}

/// Scans a kernel image for the base revision tag and the requests.
///
/// `image` is the relocated, file-backed part of the loaded image, starting at its lowest virtual
/// address (so offsets here are `virt - virtual_base`). The scan looks at every 8-byte-aligned
/// offset from 0, without skipping over what it recognises:
///
/// - a start marker discards everything collected so far (requests, tag, and any error among
///   them), so only what follows the **last** start marker counts;
/// - the **first** end marker stops the scan; with no markers at all the whole image counts;
/// - [`COMMON_MAGIC`] in words 0–1 is a request, [`BASE_REVISION_MAGIC`] in words 0–1 a tag.
///
/// # Errors
///
/// [`ScanError`] for a duplicate request ID, more than [`MAX_REQUESTS`] requests, a second tag,
/// or a request/tag whose fields run past the end of `image`, counted only after the last start
/// marker. Never panics, whatever the bytes.
pub fn scan(image: &[u8]) -> Result<Scan, ScanError> {
    let mut window = Window::default();
    let mut offset = 0usize;
    while let Some(w0) = read_u64(image, offset) {
        let available = image.len().saturating_sub(offset);
        if w0 == REQUESTS_START_MARKER[0] && words_match(image, offset, &REQUESTS_START_MARKER) {
            window = Window::default();
        } else if w0 == REQUESTS_END_MARKER[0] && words_match(image, offset, &REQUESTS_END_MARKER) {
            break;
        } else if w0 == COMMON_MAGIC[0] && words_match(image, offset, &COMMON_MAGIC) {
            let field = |at: usize| offset.checked_add(at).and_then(|o| read_u64(image, o));
            match (field(16), field(24), field(REQUEST_REVISION_OFFSET)) {
                (Some(id2), Some(id3), Some(revision)) if available >= REQUEST_HEADER_SIZE => {
                    window.add_request(FoundRequest {
                        offset,
                        id: [id2, id3],
                        revision,
                    });
                }
                _ => window.fail(ScanError::TruncatedRequest { offset, available }),
            }
        } else if w0 == BASE_REVISION_MAGIC[0] && words_match(image, offset, &BASE_REVISION_MAGIC) {
            match offset.checked_add(16).and_then(|o| read_u64(image, o)) {
                Some(requested_revision) => window.add_tag(TagInfo {
                    offset,
                    requested_revision,
                }),
                None => window.fail(ScanError::TruncatedTag { offset, available }),
            }
        }
        match offset.checked_add(8) {
            Some(next) => offset = next,
            None => break,
        }
    }
    match window.error {
        Some(e) => Err(e),
        None => Ok(window.scan),
    }
}
