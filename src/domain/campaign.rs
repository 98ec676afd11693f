use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The five Quality Month campaign kinds in testing, inspection and certification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// 有机产品认证宣传周
    OrganicWeek,
    /// 绿色产品认证与标识宣传周
    GreenWeek,
    /// 服务认证体验周
    ServiceWeek,
    /// 检验检测机构开放日
    LabOpenDay,
    /// 小微企业质量管理体系认证提升行动
    SmeQms,
}

impl CampaignKind {
    pub const ALL: [CampaignKind; 5] = [
        Self::OrganicWeek,
        Self::GreenWeek,
        Self::ServiceWeek,
        Self::LabOpenDay,
        Self::SmeQms,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganicWeek => "organic_week",
            Self::GreenWeek => "green_week",
            Self::ServiceWeek => "service_week",
            Self::LabOpenDay => "lab_open_day",
            Self::SmeQms => "sme_qms",
        }
    }
}

impl FromStr for CampaignKind {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw).ok_or_else(|| {
            Invalid(format!(
                "must be one of organic_week, green_week, service_week, lab_open_day, sme_qms, got {raw:?}"
            ))
        })
    }
}
