process LLM4MS_EMBED {
    tag "$meta.id"
    label 'process_medium'
    // The gpu profile gives this label a GPU; without it the same task runs on the CPU.
    label 'process_gpu'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    tuple val(meta), path(spectra_table)

    output:
    tuple val(meta), path("${prefix}.emb.parquet"), emit: embeddings
    path "versions.yml"                           , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    def device = task.accelerator ? 'cuda' : 'cpu'
    """
    llm4ms embed \\
        $args \\
        --device $device \\
        --threads $task.cpus \\
        --quiet \\
        -o ${prefix}.emb.parquet \\
        $spectra_table

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.emb.parquet

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
