//! Where a regional plane's Azure resources live, and whether that is inside the plane's geography.
//!
//! The infrastructure writes `CLMENT_AZURE_PLACEMENT` from the locations the deployed resources
//! report (not from its parameters); the platform sets `REGION_NAME` for the function app itself.
//! On the Azure backend the bundle refuses to start when any of them is outside the geography of
//! its [`Region`], or when a model deployment type could process data outside it (Global).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::Region;

/// The Azure locations (ARM names) inside each region's geography.
#[must_use]
pub fn locations_of(region: Region) -> &'static [&'static str] {
    match region {
        Region::Us => &[
            "centralus",
            "eastus",
            "eastus2",
            "northcentralus",
            "southcentralus",
            "westcentralus",
            "westus",
            "westus2",
            "westus3",
        ],
        // EU member states only (the EU Data Boundary): not the UK, Switzerland or Norway.
        Region::Eu => &[
            "austriaeast",
            "belgiumcentral",
            "denmarkeast",
            "francecentral",
            "francesouth",
            "germanynorth",
            "germanywestcentral",
            "italynorth",
            "northeurope",
            "polandcentral",
            "spaincentral",
            "swedencentral",
            "swedensouth",
            "westeurope",
        ],
        Region::Au => &[
            "australiacentral",
            "australiacentral2",
            "australiaeast",
            "australiasoutheast",
        ],
    }
}

/// The Azure OpenAI deployment types whose processing stays inside the region's geography:
/// regional types everywhere, Data Zone types where a data zone matches the geography (US, EU).
/// Global types (and Batch, which stores request files) never qualify.
#[must_use]
pub fn deployment_types_of(region: Region) -> &'static [&'static str] {
    match region {
        Region::Us | Region::Eu => &[
            "Standard",
            "ProvisionedManaged",
            "DataZoneStandard",
            "DataZoneProvisionedManaged",
        ],
        Region::Au => &["Standard", "ProvisionedManaged"],
    }
}

/// `East US 2`, `eastus2` and `EastUS2` all become `eastus2`.
#[must_use]
pub fn normalize_location(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// One resource's location(s): a string, or a list (Cosmos DB's write and failover regions).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
enum Locations {
    One(String),
    Many(Vec<String>),
}

impl Locations {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let v: Vec<&str> = match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        };
        v.into_iter()
    }
}

/// `CLMENT_AZURE_PLACEMENT`, as the infrastructure writes it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    /// Resource -> location(s): `functionApp`, `storage`, `cosmos`, `search`, `openai`, `keyVault`, ...
    locations: BTreeMap<String, Locations>,
    /// Model deployment -> deployment type (`chat`, `embedding`).
    #[serde(default)]
    ai_deployments: BTreeMap<String, String>,
}

/// Why a placement is refused. The message names the resource and the location.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Not the JSON shape the infrastructure writes.
    #[error("is not a placement document: {0}")]
    Malformed(String),
    /// A resource the bundle uses has no location recorded.
    #[error("names no location for {0}, which this deployment uses")]
    Missing(&'static str),
    /// A resource is outside the region's geography.
    #[error("puts {resource} in {location}, outside region {region}'s geography")]
    OutsideGeography {
        /// Which resource.
        resource: String,
        /// Where it is.
        location: String,
        /// This deployment's region.
        region: Region,
    },
    /// A model deployment type may process data outside the geography.
    #[error(
        "deploys {deployment} as {kind}, which may process data outside region {region} (allowed: {allowed})"
    )]
    DeploymentType {
        /// `chat` or `embedding`.
        deployment: String,
        /// The type.
        kind: String,
        /// This deployment's region.
        region: Region,
        /// The allowed types.
        allowed: String,
    },
}

impl Placement {
    /// Parses the JSON document.
    ///
    /// # Errors
    /// [`PlacementError::Malformed`].
    pub fn parse(json: &str) -> Result<Self, PlacementError> {
        serde_json::from_str(json).map_err(|e| PlacementError::Malformed(e.to_string()))
    }

    /// Checks every recorded location and deployment type against `region`, that each resource in
    /// `required` has a location, and the platform's `REGION_NAME` for the function app, if set.
    ///
    /// # Errors
    /// The first violation.
    pub fn check(
        &self,
        region: Region,
        required: &[&'static str],
        platform_region: Option<&str>,
    ) -> Result<(), PlacementError> {
        for r in required {
            if !self.locations.contains_key(*r) {
                return Err(PlacementError::Missing(r));
            }
        }
        let allowed = locations_of(region);
        let platform = platform_region.map(|p| ("functionApp (REGION_NAME)".to_owned(), p));
        let recorded = self
            .locations
            .iter()
            .flat_map(|(k, v)| v.iter().map(move |l| (k.clone(), l)));
        for (resource, location) in recorded.chain(platform) {
            if !allowed.contains(&normalize_location(location).as_str()) {
                return Err(PlacementError::OutsideGeography {
                    resource,
                    location: location.to_owned(),
                    region,
                });
            }
        }
        let types = deployment_types_of(region);
        for (deployment, kind) in &self.ai_deployments {
            if !types.iter().any(|t| t.eq_ignore_ascii_case(kind)) {
                return Err(PlacementError::DeploymentType {
                    deployment: deployment.clone(),
                    kind: kind.clone(),
                    region,
                    allowed: types.join(", "),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = r#"{"locations":{"functionApp":"eastus2","storage":"eastus2","cosmos":["eastus2","westus3"],"search":"eastus2","openai":"eastus2","keyVault":"eastus2"},"aiDeployments":{"chat":"DataZoneStandard","embedding":"DataZoneStandard"}}"#;
    const ALL: &[&str] = &["storage", "cosmos", "search", "openai"];

    #[test]
    fn the_infrastructure_s_own_documents_pass() {
        let p = Placement::parse(US).unwrap();
        p.check(Region::Us, ALL, Some("East US 2")).unwrap();
        let eu = US
            .replace("eastus2", "westeurope")
            .replace("westus3", "northeurope");
        Placement::parse(&eu)
            .unwrap()
            .check(Region::Eu, ALL, Some("West Europe"))
            .unwrap();
        let au = US
            .replace("eastus2", "australiaeast")
            .replace("westus3", "australiasoutheast")
            .replace("DataZoneStandard", "Standard");
        Placement::parse(&au)
            .unwrap()
            .check(Region::Au, ALL, Some("Australia East"))
            .unwrap();
    }

    #[test]
    fn anything_outside_the_geography_is_refused_and_named() {
        let p = Placement::parse(US).unwrap();
        // The US plane's document in the EU deployment.
        let e = p.check(Region::Eu, ALL, None).unwrap_err();
        assert!(matches!(e, PlacementError::OutsideGeography { .. }), "{e}");
        // One failover region outside.
        let bad = US.replace("westus3", "canadacentral");
        let e = Placement::parse(&bad)
            .unwrap()
            .check(Region::Us, ALL, None)
            .unwrap_err();
        assert!(e.to_string().contains("cosmos") && e.to_string().contains("canadacentral"));
        // The function app itself runs elsewhere.
        let e = p.check(Region::Us, ALL, Some("UK South")).unwrap_err();
        assert!(e.to_string().contains("REGION_NAME"), "{e}");
        // The UK is not in the EU geography.
        let uk = US
            .replace("eastus2", "uksouth")
            .replace("westus3", "ukwest");
        assert!(
            Placement::parse(&uk)
                .unwrap()
                .check(Region::Eu, ALL, None)
                .is_err()
        );
    }

    #[test]
    fn global_deployments_and_data_zones_outside_us_eu_are_refused() {
        let global = US.replacen("DataZoneStandard", "GlobalStandard", 1);
        let e = Placement::parse(&global)
            .unwrap()
            .check(Region::Us, ALL, None)
            .unwrap_err();
        assert!(matches!(e, PlacementError::DeploymentType { .. }), "{e}");
        // AU has no data zone: DataZoneStandard would leave Australia.
        let au = US
            .replace("eastus2", "australiaeast")
            .replace("westus3", "australiasoutheast");
        assert!(
            Placement::parse(&au)
                .unwrap()
                .check(Region::Au, ALL, None)
                .is_err()
        );
        let batch = US.replacen("DataZoneStandard", "DataZoneBatch", 1);
        assert!(
            Placement::parse(&batch)
                .unwrap()
                .check(Region::Us, ALL, None)
                .is_err()
        );
    }

    #[test]
    fn a_used_resource_without_a_location_or_a_bad_document_is_refused() {
        let p = Placement::parse(r#"{"locations":{"storage":"eastus2"}}"#).unwrap();
        assert_eq!(
            p.check(Region::Us, ALL, None).unwrap_err(),
            PlacementError::Missing("cosmos")
        );
        assert!(Placement::parse("eastus2").is_err());
        assert!(Placement::parse(r#"{"locations":{},"extra":1}"#).is_err());
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_location("East US 2"), "eastus2");
        assert_eq!(
            normalize_location("australia-southeast"),
            "australiasoutheast"
        );
    }
}
