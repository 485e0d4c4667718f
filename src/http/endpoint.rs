//! One address and the methods it answers, registered as one actix resource.
//!
//! Every `GET` also answers `HEAD` (actix sends the headers without the body),
//! and any other method gets `405 Method Not Allowed` with an `Allow` header
//! naming the methods that do work, instead of the "no such endpoint" 404 a
//! per-method route would fall through to.

use actix_web::dev::HttpServiceFactory;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, guard, web};

/// An address under construction; see the module docs.
pub struct Endpoint {
    resource: Resource,
    allow: Vec<Method>,
}

impl Endpoint {
    /// An endpoint at `path` (an actix path pattern).
    pub fn new(path: &str) -> Self {
        Self {
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
    pub fn build(self) -> impl HttpServiceFactory {
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
