//! Outbound URLs that tenants give (webhook targets): refuse the addresses
//! of the platform's own network, against server-side request forgery.
//!
//! Refused: loopback, private (RFC 1918, unique-local), link-local (which
//! holds the cloud metadata service at 169.254.169.254), shared (CGNAT),
//! unspecified, broadcast, multicast and documentation ranges, and the
//! IPv4-mapped forms of all of them. The check runs twice: on the URL when
//! it is saved ([`check_url`]), and on every address the resolver returns
//! when a request is made ([`GuardedResolver`]), so a name that later
//! resolves to a private address (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a URL is refused; the message is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an http(s) URL with a host")]
    NotHttp,
    #[error("{0} is a private, loopback, link-local or metadata address")]
    Private(IpAddr),
    #[error("the host {0:?} does not resolve")]
    Unresolved(String),
}

/// Whether `ip` belongs to the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4)))
}

/// Checks an `http(s)` URL: its host literal, or every address its name
/// resolves to, must be public unless `allow_private`.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(), Refused> {
    let uri: http::Uri = url.parse().map_err(|_| Refused::NotHttp)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(Refused::NotHttp);
    }
    let host = uri.host().filter(|host| !host.is_empty()).ok_or(Refused::NotHttp)?;
    if allow_private {
        return Ok(());
    }
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((literal, port))
            .await
            .map_err(|_| Refused::Unresolved(host.to_owned()))?
            .map(|address| address.ip())
            .collect(),
    };
    match addresses.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(Refused::Private(*ip)),
        None if addresses.is_empty() => Err(Refused::Unresolved(host.to_owned())),
        None => Ok(()),
    }
}

/// A reqwest resolver that drops non-public addresses, so a connection can
/// only reach what [`is_public`] allows, whatever the name resolves to now.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if addresses.is_empty() {
                return Err(Box::new(std::io::Error::other(format!("{host} resolves to no public address"))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Installs [`GuardedResolver`] unless private targets are allowed. An IP
/// literal in a URL bypasses any resolver, which is why [`check_url`] also
/// runs before each request.
pub fn guard(builder: reqwest::ClientBuilder, allow_private: bool) -> reqwest::ClientBuilder {
    if allow_private { builder } else { builder.dns_resolver(Arc::new(GuardedResolver)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "255.255.255.255", "224.0.0.1", "::1", "fc00::1", "fe80::1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::",
            "fd00:ec2::254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_literal_and_by_resolution() {
        assert_eq!(check_url("http://169.254.169.254/latest/meta-data", false).await, Err(Refused::Private("169.254.169.254".parse().unwrap())));
        assert_eq!(check_url("http://[::1]:8080/hook", false).await, Err(Refused::Private("::1".parse().unwrap())));
        assert!(matches!(check_url("http://localhost:9/x", false).await, Err(Refused::Private(_))));
        assert_eq!(check_url("ftp://example.com/", false).await, Err(Refused::NotHttp));
        assert_eq!(check_url("not a url", false).await, Err(Refused::NotHttp));
        assert_eq!(check_url("http://127.0.0.1:9/x", true).await, Ok(()));
        assert_eq!(check_url("http://93.184.216.34/hook", false).await, Ok(()));
    }
}
