//! The Universal Feed API: `/upack/<feed>/...`, by purpose: `listings`,
//! `downloads`, `writes`, and the `Address` extractor they share.

use actix_web::http::Method;
use actix_web::web;

use super::endpoint::Endpoint;

mod address;
mod downloads;
mod listings;
mod writes;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(
        web::scope("/upack/{feed}")
            .service(
                Endpoint::new("/packages")
                    .get(listings::list_packages)
                    .build(),
            )
            .service(
                Endpoint::new("/versions")
                    .get(listings::list_versions)
                    .build(),
            )
            .service(Endpoint::new("/search").get(listings::search).build())
            .service(Endpoint::new("/meta").get(listings::feed_metadata).build())
            .service(
                Endpoint::new("/download-file/{tail:.*}")
                    .get(downloads::download_file)
                    .build(),
            )
            .service(
                Endpoint::new("/download-vpack/{tail:.*}")
                    .get(downloads::download_vpack)
                    .build(),
            )
            .service(
                Endpoint::new("/download/{tail:.*}")
                    .get(downloads::download_package)
                    .build(),
            )
            .service(
                Endpoint::new("/delete/{tail:.*}")
                    .each(&[M::DELETE, M::POST], writes::delete)
                    .build(),
            )
            .service(
                Endpoint::new("/upload")
                    .each(&[M::PUT, M::POST], writes::upload)
                    .build(),
            )
            .service(
                Endpoint::new("/upload/{tail:.*}")
                    .each(&[M::PUT, M::POST], writes::upload)
                    .build(),
            )
            .service(Endpoint::new("").on(M::PUT, writes::upload).build())
            .service(Endpoint::new("/").on(M::PUT, writes::upload).build()),
    );
}
