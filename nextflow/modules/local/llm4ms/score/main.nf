process LLM4MS_SCORE {
    tag "$meta.id"
    label 'process_single'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    tuple val(meta), path(hits), path(truth)

    output:
    tuple val(meta), path("${prefix}.scores.tsv")  , emit: per_query
    tuple val(meta), path("${prefix}.summary.json"), emit: summary
    tuple val(meta), path("${prefix}.recall.png")  , emit: plot
    path "versions.yml"                            , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    llm4ms score \\
        $args \\
        --truth $truth \\
        -o ${prefix}.scores.tsv \\
        --summary ${prefix}.summary.json \\
        --plot ${prefix}.recall.png \\
        $hits

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.scores.tsv ${prefix}.summary.json ${prefix}.recall.png

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
