//! Where a study's objects live in the object store. Every key starts with
//! the tenant, so a key built for one tenant can never name another's
//! object, and deleting a study is deleting one prefix.
//!
//! ```text
//! tenants/<tenant>/uploads/<upload id>
//! tenants/<tenant>/studies/<id>/input.json      what the workers solve
//! tenants/<tenant>/studies/<id>/jobs/<job>.json one job's full results
//! tenants/<tenant>/studies/<id>/results.json    the aggregated document
//! tenants/<tenant>/studies/<id>/series.csv      every series (optimize)
//! tenants/<tenant>/studies/<id>/report.html
//! ```

/// The tenant as one key segment: letters, digits, `-` and `_` are kept and
/// every other byte is written `~xx`, so no tenant name can add a `/` or
/// form `.`/`..`, and distinct tenants get distinct segments.
pub fn tenant_segment(tenant: &str) -> String {
    let mut segment = String::with_capacity(tenant.len());
    for byte in tenant.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("~{byte:02x}"));
        }
    }
    if segment.is_empty() { "~".to_owned() } else { segment }
}

pub fn study_prefix(tenant: &str, study: &str) -> String {
    format!("tenants/{}/studies/{study}/", tenant_segment(tenant))
}

pub fn input(tenant: &str, study: &str) -> String {
    format!("{}input.json", study_prefix(tenant, study))
}

pub fn job(tenant: &str, study: &str, job: &str) -> String {
    format!("{}jobs/{job}.json", study_prefix(tenant, study))
}

pub fn results(tenant: &str, study: &str) -> String {
    format!("{}results.json", study_prefix(tenant, study))
}

pub fn series(tenant: &str, study: &str) -> String {
    format!("{}series.csv", study_prefix(tenant, study))
}

pub fn report(tenant: &str, study: &str) -> String {
    format!("{}report.html", study_prefix(tenant, study))
}

/// What clients write in `profiles.csv` to name an upload.
pub const UPLOAD_REFERENCE_PREFIX: &str = "uploads/";

pub fn upload(tenant: &str, upload_id: &str) -> String {
    format!("tenants/{}/uploads/{upload_id}", tenant_segment(tenant))
}

/// An upload id is one of ours (a UUID in its hyphenated form, as the API
/// hands it out and its schema says), never a path.
pub fn is_upload_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_hyphenated_uuids_only() {
        assert!(is_upload_id("0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d"));
        for other in ["0c2a7d1e3b4f4a5b8c6d7e8f9a0b1c2d", "urn:uuid:0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d", "{0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d}", "../x", ""] {
            assert!(!is_upload_id(other), "{other}");
        }
    }

    #[test]
    fn tenants_cannot_escape_their_prefix() {
        assert_eq!(tenant_segment("acme"), "acme");
        assert_eq!(tenant_segment("a/b"), "a~2fb");
        assert_eq!(tenant_segment(".."), "~2e~2e");
        assert_eq!(tenant_segment(""), "~");
        assert_ne!(tenant_segment("a~2fb"), tenant_segment("a/b"));
        for key in [input("../x", "s"), upload("a/../../b", "u"), report("~", "s")] {
            infra::objects::check_key(&key).unwrap();
        }
    }
}
