#!/usr/bin/env nextflow
/*
 * llm4ms: identify the compounds of many query files against one reference library (LLM4MS).
 * The library is textualized, embedded and indexed once; each query file is its own task chain
 * (textualize -> embed -> search), so query files are embedded in parallel, on GPUs with -profile gpu,
 * and every search reads the same index. The hits are gathered into one table at the end.
 *
 *   nextflow run nextflow/main.nf -profile docker --library lib.msp --queries 'runs/*.mgf' --outdir results
 */

include { LLM4MS_TEXTUALIZE as TEXTUALIZE_LIBRARY } from './modules/local/llm4ms/textualize/main'
include { LLM4MS_TEXTUALIZE as TEXTUALIZE_QUERIES } from './modules/local/llm4ms/textualize/main'
include { LLM4MS_EMBED      as EMBED_LIBRARY      } from './modules/local/llm4ms/embed/main'
include { LLM4MS_EMBED      as EMBED_QUERIES      } from './modules/local/llm4ms/embed/main'
include { LLM4MS_BUILDINDEX                       } from './modules/local/llm4ms/buildindex/main'
include { LLM4MS_SEARCH                           } from './modules/local/llm4ms/search/main'
include { LLM4MS_SCORE                            } from './modules/local/llm4ms/score/main'
// Not run by this workflow: the module for pipelines that train an adapter (llm4ms train) for embed.
include { LLM4MS_TRAIN                            } from './modules/local/llm4ms/train/main'

workflow {
    if (!params.library || !params.queries) {
        error "llm4ms: give --library (reference spectra files) and --queries (a glob of query files)"
    }

    // Every library file goes into one table and one index.
    library = Channel
        .fromPath(params.library, checkIfExists: true)
        .collect()
        .map { files -> [ [ id: params.library_id ], files ] }

    // Scatter: one task chain per query file, named after the whole file name, so that q.mgf and
    // q.mzML of one run stay two tasks with two outputs.
    queries = Channel
        .fromPath(params.queries, checkIfExists: true)
        .map { file -> [ [ id: file.name.replaceAll(/[^A-Za-z0-9_-]/, '_'), file: file.name ], file ] }

    TEXTUALIZE_LIBRARY(library)
    EMBED_LIBRARY(TEXTUALIZE_LIBRARY.out.spectra)
    LLM4MS_BUILDINDEX(EMBED_LIBRARY.out.embeddings)

    TEXTUALIZE_QUERIES(queries)
    EMBED_QUERIES(TEXTUALIZE_QUERIES.out.spectra)

    // A value channel: the one index is read by every search task.
    index = LLM4MS_BUILDINDEX.out.index.map { meta, file -> file }.first()
    LLM4MS_SEARCH(EMBED_QUERIES.out.embeddings, index)

    // Gather: one table of all hits, with the query file in a first column, since query ids (scan=1)
    // repeat across files. Each chunk's provenance line would be wrong for the merged rows, so it is
    // dropped here; the per-file hits in hits/ keep theirs.
    LLM4MS_SEARCH.out.hits
        .map { meta, file ->
            def lines = file.readLines().drop(1)
            ([ "query_file\t${lines[0]}" ] + lines.drop(1).collect { "${meta.file}\t${it}" }).join('\n') + '\n'
        }
        .collectFile(name: 'all_hits.tsv', storeDir: "${params.outdir}", keepHeader: true, skip: 1, sort: true)

    if (params.score) {
        truth = EMBED_QUERIES.out.embeddings
        LLM4MS_SCORE(LLM4MS_SEARCH.out.hits.join(truth))
    }

    versions = TEXTUALIZE_LIBRARY.out.versions
        .mix(EMBED_LIBRARY.out.versions, LLM4MS_BUILDINDEX.out.versions, TEXTUALIZE_QUERIES.out.versions,
             EMBED_QUERIES.out.versions, LLM4MS_SEARCH.out.versions)
    if (params.score) {
        versions = versions.mix(LLM4MS_SCORE.out.versions)
    }
    versions
        .map { file -> file.text }
        .unique()
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info")
}
