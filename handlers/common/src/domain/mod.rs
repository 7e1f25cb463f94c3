//! Domain values. Each type has a private representation and a `parse` that is the only way in.

mod ids;
mod region;

pub use ids::{ContractId, IdError, OrgId, RequestId, ReviewId, UserId};
pub use region::{Region, RegionError};
