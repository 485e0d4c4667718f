//! One address and the methods it answers, registered as one actix resource,
//! and `Routes`, which registers endpoints and keeps their table (the table is
//! what `/openapi.json` is checked against).
//!
//! Every `GET` also answers `HEAD` (actix sends the headers without the body),
//! and any other method gets `405 Method Not Allowed` with an `Allow` header
//! naming the methods that do work, instead of the "no such endpoint" 404 a
//! per-method route would fall through to.

use std::sync::Arc;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::{Method, header};
use actix_web::web::ServiceConfig;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, guard, web};

/// An address under construction; see the module docs.
pub struct Endpoint {
    path: String,
    resource: Resource,
    allow: Vec<Method>,
}

/// Who a route is for: programs (described in `/openapi.json`) or people
/// with a browser (HTML pages and their assets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Api,
    Browser,
}

/// The full pattern of the route that answered a request, in the request's
/// data (`HttpRequest::app_data`): how `/metrics` knows the route without
/// matching the path again, as `HttpRequest::match_name` would.
#[derive(Clone, Debug)]
pub struct RoutePattern(pub Arc<str>);

/// A registered address: its full actix pattern and the methods it answers
/// (`HEAD` included wherever `GET` is).
#[derive(Clone, Debug)]
pub struct Route {
    pub path: String,
    pub methods: Vec<Method>,
    pub audience: Audience,
}

/// Registers endpoints on an actix configuration, under a path prefix, and
/// records each in the route table.
pub struct Routes<'c, 't> {
    cfg: &'c mut ServiceConfig,
    prefix: String,
    audience: Audience,
    table: &'t mut Vec<Route>,
}

impl<'c, 't> Routes<'c, 't> {
    /// Registers on `cfg`, recording into `table`.
    pub fn new(cfg: &'c mut ServiceConfig, table: &'t mut Vec<Route>) -> Self {
        Self {
            cfg,
            prefix: String::new(),
            audience: Audience::Api,
            table,
        }
    }

    /// Registers `endpoint` under the current prefix.
    pub fn add(&mut self, mut endpoint: Endpoint) -> &mut Self {
        let path = format!("{}{}", self.prefix, endpoint.path);
        // Named by its full pattern: what `/metrics` counts requests under.
        endpoint.resource = endpoint
            .resource
            .name(&path)
            .app_data(RoutePattern(Arc::from(path.as_str())));
        self.table.push(Route {
            path,
            methods: endpoint.allow.clone(),
            audience: self.audience,
        });
        self.cfg.service(endpoint.build());
        self
    }

    /// Registers what `add` registers inside an actix scope at `prefix`
    /// (one prefix match routes a request to the scope's few endpoints).
    pub fn scope(&mut self, prefix: &str, add: impl FnOnce(&mut Routes)) -> &mut Self {
        let full = format!("{}{prefix}", self.prefix);
        let audience = self.audience;
        let table = &mut *self.table;
        self.cfg.service(web::scope(prefix).configure(|cfg| {
            add(&mut Routes {
                cfg,
                prefix: full,
                audience,
                table,
            });
        }));
        self
    }

    /// Registers what `add` registers as routes for browsers.
    pub fn for_browsers(&mut self, add: impl FnOnce(&mut Routes)) -> &mut Self {
        let audience = std::mem::replace(&mut self.audience, Audience::Browser);
        add(self);
        self.audience = audience;
        self
    }

    /// Registers the answer for addresses no endpoint serves.
    pub fn default_service<F, Args>(&mut self, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.cfg.default_service(web::to(handler));
    }
}

impl Endpoint {
    /// An endpoint at `path` (an actix path pattern).
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            resource: web::resource(path),
            allow: Vec::new(),
        }
    }

    /// Answers `GET` and `HEAD` with `handler`.
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend([Method::GET, Method::HEAD]);
        self.resource = self.resource.route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        );
        self
    }

    /// Answers `method` with `handler`.
    pub fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.allow.push(method);
        self
    }

    /// Answers each of `methods` with `handler`.
    pub fn each<F, Args>(mut self, methods: &[Method], handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let Some((last, others)) = methods.split_last() else {
            return self;
        };
        for method in others {
            self = self.on(method.clone(), handler.clone());
        }
        self.on(last.clone(), handler)
    }

    /// The resource, with the 405 answer for every other method.
    fn build(self) -> impl HttpServiceFactory {
        let allow = self
            .allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                let allow = allow.clone();
                async move { method_not_allowed(req.method(), &allow) }
            }))
    }
}

fn method_not_allowed(method: &Method, allow: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow.to_owned()))
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "The method {method} is not allowed at this address; use {allow}."
        ))
}
