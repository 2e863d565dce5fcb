"""The collaborators request handlers use, stored on the app under one typed key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mirror.access import AccessChecker
from mirror.catalog import Catalog
from mirror.config import Settings
from mirror.hub.client import HubClient
from mirror.pipeline import Pipeline
from storage.db import Database
from storage.objects import ObjectStore
from storage.repository import MetadataRepository


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: HubClient
    database: Database
    repository: MetadataRepository
    store: ObjectStore
    catalog: Catalog
    access: AccessChecker
    pipeline: Pipeline


SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
