process LLM4MS_BUILDINDEX {
    tag "$meta.id"
    label 'process_single'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    tuple val(meta), path(embeddings)

    output:
    tuple val(meta), path("${prefix}.index"), emit: index
    path "versions.yml"                     , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    llm4ms build-index \\
        $args \\
        --threads $task.cpus \\
        --quiet \\
        -o ${prefix}.index \\
        $embeddings

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.index

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
