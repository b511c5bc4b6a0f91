process LLM4MS_SEARCH {
    tag "$meta.id"
    label 'process_single'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    tuple val(meta), path(query_embeddings)
    path index

    output:
    tuple val(meta), path("${prefix}.hits.tsv"), emit: hits
    path "versions.yml"                        , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    llm4ms search \\
        $args \\
        --threads $task.cpus \\
        --quiet \\
        -o ${prefix}.hits.tsv \\
        $query_embeddings \\
        $index

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    printf '# llm4ms {}\\nquery_id\\trank\\tscore\\tlibrary_id\\tname\\tinchikey\\tsmiles\\tadduct\\tlibrary_precursor_mz\\tquery_precursor_mz\\tnote\\n' > ${prefix}.hits.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
