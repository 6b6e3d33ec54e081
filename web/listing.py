"""A table's search, filters, sort and page, read from the query string and written back
into its links, so a filtered, sorted page can be bookmarked and shared."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from web.forms import small_int

PER_PAGE = 50


@dataclass
class Listing:
    path: str
    params: dict[str, str] = field(default_factory=dict)  # filters and search, as given
    sort: str = ""
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE
    total: int = 0

    @classmethod
    def read(cls, path: str, query: Mapping[str, str], *, sorts: Iterable[str],
             default_sort: str, filters: Iterable[str] = (), per_page: int = PER_PAGE
             ) -> Listing:
        """Only the sorts and filters the table offers are taken; anything else in the
        query string is ignored rather than trusted."""
        allowed = set(sorts)
        sort = query.get("sort", default_sort)
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in allowed:
            sort, descending = default_sort.lstrip("-"), default_sort.startswith("-")
        # Beyond the last page settle() brings it back; a page past SQLite's integer would not.
        page = max(1, small_int(query.get("page"), 1) or 1)
        params = {k: query[k].strip() for k in ("q", *filters) if query.get(k, "").strip()}
        return cls(path, params, sort, descending, page, per_page)

    @property
    def q(self) -> str:
        return self.params.get("q", "")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def settle(self, total: int) -> None:
        """The row count once known: a page past the end shows the last one."""
        self.total = total
        self.page = min(self.page, self.pages)

    def _url(self, **changes: str | int) -> str:
        query: dict[str, str | int] = dict(self.params)
        query["sort"] = ("-" if self.descending else "") + self.sort
        query["page"] = self.page
        query.update(changes)
        if query.get("page") == 1:
            query.pop("page")
        return f"{self.path}?{urlencode(query)}"

    def sort_url(self, key: str) -> str:
        flip = key == self.sort and not self.descending
        return self._url(sort=("-" if flip else "") + key, page=1)

    def page_url(self, page: int) -> str:
        return self._url(page=page)
