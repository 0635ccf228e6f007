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
    /// Page size, 1–200 (default 50); anything else is a 400.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (a malformed one is a 400).
    #[param(
        pattern = "^[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The store's page request, or a 400 for a limit out of range or a malformed cursor.
    pub fn into_page(self) -> Result<researchops_core::PageRequest, crate::ApiError> {
        crate::validation::page(self.limit, self.cursor)
    }
}
