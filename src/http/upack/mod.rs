//! The Universal Feed API: `/upack/<feed>/...`, by purpose: `listings`,
//! `downloads`, `writes`, and the `Address` extractor they share.

use actix_web::http::Method;

use super::endpoint::{Endpoint, Routes};

mod address;
pub(super) mod downloads;
pub(super) mod listings;
pub(super) mod writes;

pub fn routes(routes: &mut Routes) {
    use Method as M;
    routes.scope("/upack/{feed}", |routes| {
        routes
            .add(Endpoint::new("/download-vpack/{tail:.*}").get(downloads::download_vpack))
            .add(Endpoint::new("/download/{tail:.*}").get(downloads::download_package))
            .add(Endpoint::new("/download-file/{tail:.*}").get(downloads::download_file))
            .add(Endpoint::new("/packages").get(listings::list_packages))
            .add(Endpoint::new("/versions").get(listings::list_versions))
            .add(Endpoint::new("/search").get(listings::search))
            .add(Endpoint::new("/meta").get(listings::feed_metadata))
            .add(Endpoint::new("/delete/{tail:.*}").each(&[M::DELETE, M::POST], writes::delete))
            .add(Endpoint::new("/upload").each(&[M::PUT, M::POST], writes::upload))
            .add(Endpoint::new("/upload/{tail:.*}").each(&[M::PUT, M::POST], writes::upload))
            .add(Endpoint::new("").on(M::PUT, writes::upload))
            .add(Endpoint::new("/").on(M::PUT, writes::upload));
    });
}
