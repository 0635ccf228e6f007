//! One module per resource; each holds thin handlers (extract → authorise by extractor → call one
//! function → map to a response) with their OpenAPI annotations. The route table is `crate::api_router`.

pub mod artifacts;
pub mod events;
pub mod health;
pub mod projects;
pub mod runs;

use serde::Deserialize;

/// `?limit=&cursor=` of the paginated lists.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size (default 50; values above 200 are clamped to 200).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The store's page request.
    pub fn into_page(self) -> researchops_core::PageRequest {
        researchops_core::PageRequest::new(self.limit, self.cursor)
    }
}
