//! Tenants and their users, as the API shows them.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::caller::Role;
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserProfile {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
}

fn object<T: Serialize>(value: &T) -> Item {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Item::new(),
    }
}

impl Tenant {
    pub fn write(&self) -> Write {
        Write::Put {
            key: keys::tenant_profile(&self.tenant_id),
            index: None,
            item: object(self),
            condition: Condition::NotExists,
        }
    }
}

impl UserProfile {
    pub fn write(&self) -> Write {
        Write::Put {
            key: keys::user(&self.tenant_id, &self.user_id),
            index: Some(keys::users_index(
                &self.tenant_id,
                &self.email,
                &self.user_id,
            )),
            item: object(self),
            condition: Condition::NotExists,
        }
    }
}

/// What `GET /me` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Me {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub tenant: Option<Tenant>,
    pub profile: Option<UserProfile>,
}
