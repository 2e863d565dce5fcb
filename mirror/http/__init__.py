"""The only aiohttp server code: the URL table, dispatch, middleware, ranges, OpenAPI, handlers, the
server runner and the review page's static files."""
