//! Browsing: the feeds, a feed's packages, a package's versions, a version.

use actix_web::{HttpRequest, web};
use minijinja::{Value, context};

use super::views::{self, FeedView, PackageRowView, VersionRowView};
use super::visitor::Visitor;
use super::{PageResult, TEMPLATES, paths, render, visible_feed};
use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::{OrInternal, ServiceError};
use crate::http::query::Query;
use crate::service::listings::{self, FeedOverview, Listed, Listing};
use crate::service::model::Feed;
use crate::service::packages::{self, VersionSelector};
use crate::service::{Wharf, feeds};

/// Packages per page of a feed.
const PAGE_SIZE: usize = 50;

/// `GET /`: the feeds the visitor may view.
pub async fn index(wharf: web::Data<Wharf>, visitor: Visitor) -> PageResult {
    let feeds: Vec<FeedView> = feeds::visible_to(&wharf, &visitor.caller)
        .await?
        .iter()
        .map(FeedView::from)
        .collect();
    render(
        "index.html",
        context! { visitor => visitor.view(), feeds, title => "Feeds" },
    )
}

/// `GET /feeds/<feed>[?q=&group=&page=]`: a page of the feed's packages.
pub async fn feed(
    req: HttpRequest,
    name: web::Path<String>,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let feed = visible_feed(&wharf, &visitor, &name).await?;
    let query = Query::parse(req.query_string());
    let term = query.get("q").unwrap_or("").trim().to_owned();
    let group = query.non_empty("group").map(GroupName::parse).transpose()?;
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let offset = (page - 1) * PAGE_SIZE;
    // One more than a page, to know whether there is a next one.
    let listing = if term.is_empty() {
        Listing::Packages {
            group: group.clone(),
            name: None,
            limit: Some(i64::try_from(PAGE_SIZE + 1).unwrap_or(i64::MAX)),
            offset: Some(i64::try_from(offset).unwrap_or(i64::MAX)),
        }
    } else {
        Listing::Search {
            term: term.clone(),
            group: group.clone(),
            limit: PAGE_SIZE + 1,
            offset,
        }
    };
    let links = PageLinks {
        feed: feed.name.clone(),
        term: term.clone(),
        group: group.as_ref().map(|g| g.as_str().to_owned()),
    };
    let feed_name = feed.name.clone();
    let table = listings::rendered(&wharf, &feed, listing, "feed page", move |listed| {
        let packages = listed.into_packages();
        let has_next = packages.len() > PAGE_SIZE;
        let rows: Vec<PackageRowView> = packages
            .iter()
            .take(PAGE_SIZE)
            .map(|p| PackageRowView::new(&feed_name, p))
            .collect();
        let html = TEMPLATES
            .get_template("feed_table.html")
            .and_then(|t| {
                t.render(context! {
                    rows, page,
                    previous => (page > 1).then(|| links.to(page - 1)),
                    next => has_next.then(|| links.to(page + 1)),
                })
            })
            .map_err(|e| {
                ServiceError::internal(anyhow::anyhow!("rendering feed_table.html: {e:#}"))
            })?;
        Ok(bytes::Bytes::from(html))
    })
    .await?;
    let overview = feed_overview(&wharf, &feed).await?;
    let may_upload = visitor.caller.may(Permission::Add, &feed);
    render(
        "feed.html",
        context! {
            visitor => visitor.view(),
            title => feed.name.clone(),
            feed => feed_context(&feed),
            package_count => overview.package_count,
            version_count => overview.version_count,
            groups => overview.groups,
            group => group.as_ref().map(GroupName::as_str),
            term, page,
            table => Value::from_safe_string(String::from_utf8_lossy(&table).into_owned()),
            may_upload,
        },
    )
}

/// The feed's numbers and groups, from the listing cache (counting 10,000
/// packages on every page view would cost more than the page itself).
async fn feed_overview(wharf: &Wharf, feed: &Feed) -> Result<FeedOverview, ServiceError> {
    let cached = listings::rendered(wharf, feed, Listing::Overview, "feed overview", |listed| {
        let Listed::Overview(overview) = listed else {
            return Err(ServiceError::internal(anyhow::anyhow!(
                "an overview listing gave no overview"
            )));
        };
        Ok(bytes::Bytes::from(
            serde_json::to_vec(&overview).or_internal("caching a feed overview")?,
        ))
    })
    .await?;
    serde_json::from_slice(&cached).or_internal("reading a cached feed overview")
}

/// Builds the address of another page of the same feed listing.
struct PageLinks {
    feed: String,
    term: String,
    group: Option<String>,
}

impl PageLinks {
    fn to(&self, page: usize) -> String {
        let mut url = format!("{}?page={page}", paths::feed(&self.feed));
        if !self.term.is_empty() {
            url.push_str("&q=");
            url.push_str(&paths::query_value(&self.term));
        }
        if let Some(group) = &self.group {
            url.push_str("&group=");
            url.push_str(&paths::query_value(group));
        }
        url
    }
}

fn feed_context(feed: &Feed) -> Value {
    context! {
        name => feed.name.clone(),
        url => paths::feed(&feed.name),
        description => feed.description.clone(),
        public => feed.anonymous_read,
    }
}

/// `GET /feeds/<feed>/packages/<group.../><name>[/versions/<version>]`.
pub async fn package_or_version(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let (feed_name, tail) = path.into_inner();
    let feed = visible_feed(&wharf, &visitor, &feed_name).await?;
    let (segments, version) = paths::split_package_tail(&tail);
    let Some((name, group)) = segments.split_last() else {
        return Err(ServiceError::NotFound("Name a package.".to_owned()).into());
    };
    let id = PackageId::new(
        GroupName::parse(&group.join("/"))?,
        PackageName::parse(name)?,
    );
    match version {
        Some(version) => version_page(&req, &wharf, &visitor, &feed, &id, &version).await,
        None => package_page(&wharf, &visitor, &feed, &id).await,
    }
}

async fn package_page(wharf: &Wharf, visitor: &Visitor, feed: &Feed, id: &PackageId) -> PageResult {
    let listing = Listing::Packages {
        group: Some(id.group.clone()),
        name: Some(id.name.clone()),
        limit: None,
        offset: None,
    };
    let packages = listings::list(wharf, feed, &listing).await?.into_packages();
    let Some(package) = packages.first() else {
        return Err(ServiceError::NotFound(format!(
            "There is no package {id} in feed '{}'.",
            feed.name
        ))
        .into());
    };
    let latest = package.latest();
    let versions: Vec<VersionRowView> = package
        .versions()
        .iter()
        .map(|v| VersionRowView::new(&feed.name, v))
        .collect();
    render(
        "package.html",
        context! {
            visitor => visitor.view(),
            title => latest.name(),
            feed => feed_context(feed),
            group => latest.group(),
            group_url => format!("{}?group={}", paths::feed(&feed.name), paths::query_value(latest.group())),
            name => latest.name(),
            package_title => latest.manifest_text("title"),
            latest => VersionRowView::new(&feed.name, latest),
            description => Value::from_safe_string(views::markdown(&latest.manifest_text("description").unwrap_or_default())),
            dependencies => views::dependencies(&feed.name, latest),
            versions,
            total_downloads => package.total_downloads(),
        },
    )
}

async fn version_page(
    req: &HttpRequest,
    wharf: &Wharf,
    visitor: &Visitor,
    feed: &Feed,
    id: &PackageId,
    version: &str,
) -> PageResult {
    let selector = VersionSelector::Exact(Version::parse(version)?);
    let found = packages::resolve(wharf, feed, id, &selector).await?;
    let query = Query::parse(req.query_string());
    let folder = query.get("path").unwrap_or("").trim_matches('/').to_owned();
    let (group, name, number) = (found.group(), found.name(), found.version());
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    let package_arg = if group.is_empty() {
        name.to_owned()
    } else {
        format!("{group}/{name}")
    };
    let download = paths::api("download", &feed.name, group, name, number);
    let key_header = if feed.anonymous_read {
        ""
    } else {
        " -H \"X-ApiKey: $WHARF_API_KEY\""
    };
    let commands = [
        ("curl", format!("curl -fOJ{key_header} {base}{download}")),
        (
            "upack",
            format!(
                "upack install {package_arg} {number} --source={base}/upack/{} --target=./{name}",
                feed.name
            ),
        ),
        (
            "pgutil",
            format!(
                "pgutil upack install --source={base} --feed={} --package={package_arg} --version={number} --target=./{name}",
                feed.name
            ),
        ),
    ];
    let breadcrumbs: Vec<(String, String)> = folder_breadcrumbs(feed, &found, &folder);
    render(
        "version.html",
        context! {
            visitor => visitor.view(),
            title => format!("{name} {number}"),
            feed => feed_context(feed),
            group, name, version => number,
            package_url => paths::package(&feed.name, group, name),
            package_title => found.manifest_text("title"),
            prerelease => !found.is_stable(),
            is_virtual => found.is_virtual(),
            size => found.size_bytes(),
            published => views::date(&found),
            downloads => found.downloads(),
            sha1 => found.sha1(),
            sha256 => found.sha256(),
            description => Value::from_safe_string(views::markdown(&found.manifest_text("description").unwrap_or_default())),
            dependencies => views::dependencies(&feed.name, &found),
            contents => views::contents(&feed.name, &found),
            files => views::files_in(&found, &feed.name, &folder),
            folder, breadcrumbs,
            upack_url => download.clone(),
            zip_url => format!("{download}?contentOnly=zip"),
            tgz_url => format!("{download}?contentOnly=tgz"),
            vpack_url => paths::api("download-vpack", &feed.name, group, name, number),
            commands => commands.iter().map(|(tool, line)| context! { tool, line }).collect::<Vec<_>>(),
        },
    )
}

/// The links from the top of a version's files down to `folder`.
fn folder_breadcrumbs(
    feed: &Feed,
    version: &crate::service::model::VersionDetail,
    folder: &str,
) -> Vec<(String, String)> {
    let page = paths::version(
        &feed.name,
        version.group(),
        version.name(),
        version.version(),
    );
    let mut crumbs = vec![("package".to_owned(), page.clone())];
    let mut so_far = String::new();
    for part in folder.split('/').filter(|p| !p.is_empty()) {
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(part);
        crumbs.push((
            part.to_owned(),
            format!("{page}?path={}", paths::query_value(&so_far)),
        ));
    }
    crumbs
}
