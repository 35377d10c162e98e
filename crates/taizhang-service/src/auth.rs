//! Accounts and sessions: argon2id passwords with a complexity policy, lockout after repeated failures, idle
//! and absolute session timeouts, sessions and API tokens stored only as SM3 hashes of random tokens, CSRF
//! tokens for cookie-authenticated form posts.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use serde::Serialize;
use taizhang_domain::access::{Role, Viewer, validate_role_set};
use taizhang_domain::ledger::sm3_hex;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_store::{Session, Unit, User};

use crate::{Service, se};

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub roles: Vec<Role>,
    pub unit: Unit,
    /// `session` or `api`.
    pub kind: String,
    pub csrf_token: String,
    /// The password was set by someone else or is older than the policy allows: only changing it is allowed.
    pub password_change_required: bool,
}

impl Principal {
    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }

    /// A leader or the supervision office: who keeps rosters, publishes circulars, signs target letters and
    /// starts campaigns for their unit.
    pub fn oversees(&self) -> bool {
        self.has(Role::Leader) || self.has(Role::SupervisionOffice)
    }

    /// The viewer's unit is the one at `unit_path`, above it or below it: who reads a unit's published
    /// circulars and campaigns.
    pub fn in_line_with(&self, unit_path: &str) -> bool {
        self.unit.path.starts_with(unit_path) || unit_path.starts_with(&self.unit.path)
    }
    pub fn require(&self, r: Role) -> DomainResult<()> {
        if self.has(r) {
            Ok(())
        } else {
            Err(DomainError::new(ErrorCode::Forbidden, format!("此操作需要{}权限", r.name_zh())))
        }
    }
    pub fn roles_str(&self) -> String {
        roles_to_str(&self.roles)
    }
    pub fn viewer(&self) -> Viewer {
        Viewer { user_id: self.user.id, unit_id: self.unit.id, unit_path: self.unit.path.clone() }
    }
}

pub fn roles_to_str(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

pub fn parse_roles(s: &str) -> Vec<Role> {
    s.split(',').filter(|x| !x.is_empty()).filter_map(|x| x.parse().ok()).collect()
}

/// What a successful login returns. The token is shown once and never stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Login {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b[..]);
    format!("{prefix}{}", hex::encode(b))
}

/// A user name as stored: trimmed; letters, digits, `_`, `.` and `-`, at most 64.
pub fn check_username(username: &str) -> DomainResult<&str> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 64
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return Err(DomainError::new(
            ErrorCode::InvalidInput,
            "用户名只能包含字母、数字、下划线、点和连字符，最长 64 位",
        ));
    }
    Ok(username)
}

pub fn token_hash(token: &str) -> String {
    sm3_hex(token.as_bytes())
}

impl Service {
    pub fn check_password_policy(&self, password: &str) -> DomainResult<()> {
        let p = &self.policy;
        let classes = [
            password.chars().any(|c| c.is_ascii_lowercase()),
            password.chars().any(|c| c.is_ascii_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_ascii_alphanumeric()),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if password.chars().count() < p.min_password_len || classes < p.password_classes {
            return Err(DomainError::new(
                ErrorCode::WeakPassword,
                format!(
                    "密码至少 {} 位，且须包含大写字母、小写字母、数字、符号中的至少 {} 类",
                    p.min_password_len, p.password_classes
                ),
            ));
        }
        if password.chars().count() > 128 {
            return Err(DomainError::new(ErrorCode::WeakPassword, "密码不能超过 128 位"));
        }
        Ok(())
    }

    pub fn hash_password(&self, password: &str) -> DomainResult<String> {
        self.check_password_policy(password)?;
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| DomainError::new(ErrorCode::Internal, format!("密码处理失败：{e}")))
    }

    fn password_matches(hash: &str, password: &str) -> bool {
        PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    }

    /// Signs a user in. Every attempt is audited; after `max_failed_logins` failures the account locks.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<&str>,
    ) -> DomainResult<(Login, Principal)> {
        let now = self.now();
        let invalid = || DomainError::new(ErrorCode::InvalidCredentials, "用户名或密码错误");
        let Some(user) = self.store.user_by_username(username).await.map_err(se)? else {
            // Spend the same time as a real check, so response times do not tell which usernames exist.
            let dummy = DUMMY_HASH.get_or_init(|| {
                Argon2::default().hash_password(b"not-a-password").map(|h| h.to_string()).unwrap_or_default()
            });
            let _ = Self::password_matches(dummy, password);
            let object = Some(format!("username:{}", username.chars().take(64).collect::<String>()));
            self.audit(None, source, "login_failed", object, "failed", "用户不存在").await?;
            return Err(invalid());
        };
        if !user.active {
            self.audit(None, source, "login_failed", Some(format!("user:{}", user.id)), "failed", "账号已停用").await?;
            return Err(invalid());
        }
        if let Some(until) = user.locked_until.filter(|u| *u > now) {
            self.audit(None, source, "login_failed", Some(format!("user:{}", user.id)), "denied", "账号已锁定").await?;
            let local = until.with_timezone(&taizhang_domain::deadline::china_tz());
            return Err(DomainError::new(
                ErrorCode::AccountLocked,
                format!("连续登录失败次数过多，账号已锁定至 {}", local.format("%H:%M")),
            ));
        }
        if !Self::password_matches(&user.password_hash, password) {
            // Counted atomically, so parallel guesses cannot all see the same count.
            let failed = self.store.record_failed_login(user.id).await.map_err(se)?;
            let lock = (failed >= self.policy.max_failed_logins).then(|| now + self.policy.lockout);
            if lock.is_some() {
                self.store.set_login_state(user.id, 0, lock).await.map_err(se)?;
            }
            let detail = if lock.is_some() {
                format!("第 {failed} 次失败，账号锁定")
            } else {
                format!("第 {failed} 次失败")
            };
            self.audit(None, source, "login_failed", Some(format!("user:{}", user.id)), "failed", detail).await?;
            return Err(invalid());
        }
        self.store.set_login_state(user.id, 0, None).await.map_err(se)?;
        let token = random_token("tzs_");
        let csrf = random_token("");
        let session = Session {
            token_hash: token_hash(&token),
            user_id: user.id,
            kind: "session".into(),
            name: source.unwrap_or("").to_string(),
            csrf_token: csrf.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.policy.absolute_timeout,
        };
        self.store.insert_session(session.clone()).await.map_err(se)?;
        let principal = self.principal(user, &session).await?;
        self.audit(Some(&principal), source, "login", Some(format!("user:{}", principal.user.id)), "ok", "").await?;
        Ok((Login { token, csrf_token: csrf, expires_at: session.expires_at }, principal))
    }

    async fn principal(&self, user: User, session: &Session) -> DomainResult<Principal> {
        let unit = self
            .store
            .unit(user.unit_id)
            .await
            .map_err(se)?
            .ok_or_else(|| DomainError::new(ErrorCode::Internal, "账号所属单位不存在"))?;
        // Machine clients (API tokens) cannot change a password; their token has its own lifetime.
        let expired = session.kind == "session" && self.now() - user.password_changed_at > self.policy.password_max_age;
        let password_change_required = user.must_change_password || expired;
        Ok(Principal {
            roles: parse_roles(&user.roles),
            user,
            unit,
            kind: session.kind.clone(),
            csrf_token: session.csrf_token.clone(),
            password_change_required,
        })
    }

    /// Resolves a bearer or cookie token, enforcing the idle and absolute timeouts.
    pub async fn authenticate(&self, token: &str) -> DomainResult<Principal> {
        let now = self.now();
        let hash = token_hash(token);
        let expired = || DomainError::new(ErrorCode::SessionExpired, "登录已过期，请重新登录");
        let Some(session) = self.store.session(&hash).await.map_err(se)? else {
            return Err(DomainError::new(ErrorCode::Unauthenticated, "请先登录"));
        };
        let idle_out = session.kind == "session" && now - session.last_seen_at > self.policy.idle_timeout;
        if now >= session.expires_at || idle_out {
            self.store.delete_session(&hash).await.map_err(se)?;
            return Err(expired());
        }
        let user = self.store.user(session.user_id).await.map_err(se)?.filter(|u| u.active).ok_or_else(expired)?;
        // Avoid a write per request: idle time is kept to the minute.
        if now - session.last_seen_at > chrono::Duration::seconds(60) {
            self.store.touch_session(&hash, now).await.map_err(se)?;
        }
        self.principal(user, &session).await
    }

    pub async fn logout(&self, token: &str) -> DomainResult<()> {
        self.store.delete_session(&token_hash(token)).await.map_err(se)
    }

    /// Issues a long-lived token for a machine client, bound to the caller's account and audited.
    pub async fn create_api_token(&self, who: &Principal, name: &str) -> DomainResult<Login> {
        let now = self.now();
        let token = random_token("tza_");
        let expires_at = now + self.policy.api_token_lifetime;
        self.store
            .insert_session(Session {
                token_hash: token_hash(&token),
                user_id: who.user.id,
                kind: "api".into(),
                name: name.chars().take(100).collect(),
                csrf_token: String::new(),
                created_at: now,
                last_seen_at: now,
                expires_at,
            })
            .await
            .map_err(se)?;
        self.audit(Some(who), None, "api_token_created", Some(format!("user:{}", who.user.id)), "ok", name).await?;
        Ok(Login { token, csrf_token: String::new(), expires_at })
    }

    /// Creates an account. With no principal (the `create-admin` command, the demo, tests) the roles are set
    /// directly. A system administrator creates accounts without roles — the security administrator grants
    /// them (三员分立) — and with a one-time password the user must change at first login.
    pub async fn create_user(
        &self,
        by: Option<&Principal>,
        username: &str,
        display_name: &str,
        unit_id: i64,
        password: &str,
        roles: &[Role],
        id_number: Option<&str>,
    ) -> DomainResult<User> {
        if let Some(p) = by {
            p.require(Role::SystemAdmin)?;
            if !roles.is_empty() {
                return Err(DomainError::new(
                    ErrorCode::RoleConflict,
                    "三员分立：账号的角色由安全管理员授予，创建账号时不能指定",
                ));
            }
        }
        let username = check_username(username)?;
        validate_role_set(roles)?;
        if self.store.unit(unit_id).await.map_err(se)?.is_none() {
            return Err(DomainError::new(ErrorCode::NotFound, format!("单位 {unit_id} 不存在")));
        }
        let hash = self.hash_password(password)?;
        let id_index = id_number
            .map(taizhang_domain::mask::normalise_id_number)
            .filter(|s| !s.is_empty())
            .map(|s| self.keys.blind_index("id", &s));
        let user = self
            .store
            .create_user(taizhang_store::NewUser {
                username: username.to_string(),
                display_name: display_name.trim().chars().take(50).collect(),
                unit_id,
                password_hash: hash,
                roles: roles_to_str(roles),
                id_index,
                must_change_password: by.is_some(),
                created_at: self.now(),
            })
            .await
            .map_err(se)?;
        self.audit(by, None, "user_created", Some(format!("user:{}", user.id)), "ok", format!("角色：{}", user.roles))
            .await?;
        Ok(user)
    }

    /// Changes a user's roles: only the security administrator may, never for their own account, and the
    /// three-administrator separation always holds. Audited as a permission change.
    pub async fn set_roles(&self, by: &Principal, user_id: i64, roles: &[Role]) -> DomainResult<User> {
        if let Err(e) = by.require(Role::SecurityAdmin) {
            self.audit(Some(by), None, "permission_change", Some(format!("user:{user_id}")), "denied", "无权限")
                .await?;
            return Err(e);
        }
        if by.user.id == user_id {
            return Err(DomainError::new(ErrorCode::Forbidden, "不能修改自己的角色"));
        }
        validate_role_set(roles)?;
        let Some(mut user) = self.store.user(user_id).await.map_err(se)? else {
            return Err(DomainError::new(ErrorCode::NotFound, format!("用户 {user_id} 不存在")));
        };
        let new = roles_to_str(roles);
        let detail = format!("{} → {}", user.roles, new);
        // Audited before and after: a change that cannot be audited does not happen.
        let object = Some(format!("user:{user_id}"));
        self.audit(Some(by), None, "permission_change", object.clone(), "requested", detail.clone()).await?;
        self.store.set_roles(user_id, &new).await.map_err(se)?;
        self.audit(Some(by), None, "permission_change", object, "ok", detail).await?;
        user.roles = new;
        Ok(user)
    }

    /// Changes one's own password (policy enforced, old password required).
    pub async fn change_password(&self, who: &Principal, old: &str, new: &str) -> DomainResult<()> {
        if !Self::password_matches(&who.user.password_hash, old) {
            return Err(DomainError::new(ErrorCode::InvalidCredentials, "原密码不正确"));
        }
        if old == new {
            return Err(DomainError::new(ErrorCode::WeakPassword, "新密码不能与原密码相同"));
        }
        let hash = self.hash_password(new)?;
        self.store.set_password(who.user.id, &hash, self.now()).await.map_err(se)?;
        // Every session and API token of the account ends: sign in again with the new password.
        self.store.delete_sessions_of(who.user.id).await.map_err(se)?;
        self.audit(Some(who), None, "password_changed", Some(format!("user:{}", who.user.id)), "ok", "").await
    }
}
