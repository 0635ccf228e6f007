//! Cursor pagination shared by every list endpoint: `limit` (default 50, clamped to 200) and an opaque
//! cursor that the store produces and parses.

use serde::Serialize;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size; larger requests are clamped.
pub const MAX_LIMIT: u32 = 200;

/// What a caller asked for.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// Page size after clamping.
    pub limit: u32,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Builds a request, applying the default and the clamp.
    pub fn new(limit: Option<u32>, cursor: Option<String>) -> Self {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        Self {
            limit,
            cursor: cursor.filter(|c| !c.is_empty()),
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}
