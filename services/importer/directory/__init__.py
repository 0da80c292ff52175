"""The company directory: installation-wide reference data (a licensed database) to pick leads from.

Loading (`leadflow directory load` / `sample`), filtering, facets, and the `directory` import source that
streams every match of a filter into a campaign through the normal import runner. docs/sources.md
describes the file format and the decisions. The modules, in the order data flows:

- `rows`: one company (`DirectoryRow`), its columns and the checks a record must pass;
- `csv_file`: the file format, read and written;
- `sample`: the synthetic Central-European sample;
- `copy_writer`: rows into the table, one COPY in one transaction;
- `queries`: a filter as SQL (page, count, import, facets), shared with the pipeline;
- `repository`: a filter's count and page, the facets, read through those queries;
- `labels`: facet order and the name of an import made from a filter;
- `handlers`: the importer's directory commands and import source;
- `cli`: `leadflow directory load` / `sample` with a progress bar.
"""
